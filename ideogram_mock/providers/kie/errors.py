"""kie's errors: its own (request validation) and the core's, as an envelope code and msg."""

from __future__ import annotations

from ideogram_mock.core.errors import (
    DomainError,
    FileGone,
    InsufficientCredits,
    Maintenance,
    NotAFileUrl,
    RateLimited,
    Scripted,
    TaskNotFound,
    Unauthorized,
)
from ideogram_mock.providers.kie.models import MESSAGES, RECORD_IS_NULL, TASK_NOT_FOUND


class KieError(DomainError):
    """An error only kie's dialect raises (request validation): an envelope `code` and `msg`."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else MESSAGES.get(code, "Error")
        super().__init__(self.msg)


_CODES: dict[type[DomainError], int] = {
    Unauthorized: 401,
    InsufficientCredits: 402,
    RateLimited: 429,
    Maintenance: 455,
}


def envelope_error(exc: DomainError, unknown_task: str) -> tuple[int, str]:
    """The envelope code and msg for an error (the one place that decides them)."""
    if isinstance(exc, KieError):
        return exc.code, exc.msg
    if isinstance(exc, Scripted):
        return exc.code, exc.message or MESSAGES.get(exc.code, "Error")
    if isinstance(exc, TaskNotFound):
        return (404, TASK_NOT_FOUND) if unknown_task == "docs" else (422, RECORD_IS_NULL)
    if isinstance(exc, NotAFileUrl | FileGone):
        return 422, exc.message
    code = _CODES.get(type(exc), 500)
    return code, MESSAGES[code]
