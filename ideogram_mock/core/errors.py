"""The core's errors: what went wrong, in domain terms. Each provider's dialect renders them in
its own envelope and statuses; the control API renders its own."""

from __future__ import annotations


class DomainError(Exception):
    """Something the core refuses; `field` names the offending input when there is one."""

    def __init__(self, message: str = "", field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message or type(self).__name__)


class Unauthorized(DomainError):
    """No key, or a key the fake does not accept."""


class InsufficientCredits(DomainError):
    """The account cannot pay for what it asked."""


class RateLimited(DomainError):
    """Over the per-key limit; `retry_after_ms` until a slot frees up."""

    def __init__(self, retry_after_ms: int) -> None:
        self.retry_after_ms = retry_after_ms
        super().__init__(f"rate limited for {retry_after_ms} ms")


class Maintenance(DomainError):
    """The maintenance switch is on."""


class Scripted(DomainError):
    """An error a rule or a prompt trigger asked for, as a code in the provider's own terms
    (`message` empty: the provider's usual wording for that code)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        super().__init__(message or "")


class TaskNotFound(DomainError):
    """No such task, another key's, or not yet visible (the record delay)."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"no task {task_id}", "taskId")


class NotAFileUrl(DomainError):
    """A URL that names no file of this fake."""


class FileGone(DomainError):
    """A file URL of this fake whose file cannot be had (not the caller's, failed, evicted)."""


class FileMissing(DomainError):
    """A file path that names nothing."""


class BadSignature(DomainError):
    """A file link whose signature does not match."""


class LinkExpired(DomainError):
    """A file link past its expiry."""


class InvalidInput(DomainError):
    """A value the core cannot use (a rule that contradicts itself, an unknown provider)."""


class RuleNotFound(DomainError):
    """No rule with that id."""


class ConnectionDropped(DomainError):
    """Close the client's connection without an answer (a `drop` fault); the rule id."""


class GatewayFailure(DomainError):
    """Answer with a gateway's 502 page instead of the provider's envelope; the rule id."""
