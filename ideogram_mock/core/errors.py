"""The one exception family: errors are data, turned into an answer in one place."""

from __future__ import annotations

# The wording the fake uses for each documented envelope code. 401, 402, 422 ("recordInfo is
# null", unknown model) and the callbacks' texts are kie's own; the rest are plain statements.
MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: "You do not have access permissions",
    402: "The current credits are insufficient. Please top up.",
    404: "Not found",
    408: "Upstream did not return a result for over 10 minutes",
    413: "Request body is too large",
    422: "Validation error",
    429: "Too many requests, the rate limit has been exceeded. Please try again later.",
    433: "Sub-key usage has exceeded its limit",
    455: "The service is under maintenance. Please try again later.",
    500: "Internal server error",
    501: "Generation failed",
    505: "This feature is disabled",
}
ERROR_CODES = frozenset(MESSAGES)
MEDIA_UNAVAILABLE = "Your media file is unavailable, please replace it."
RECORD_IS_NULL = "recordInfo is null"
TASK_NOT_FOUND = "Task not found"


class ApiError(Exception):
    """An upstream-API error: the envelope `code` and `msg` (HTTP status per convention)."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else MESSAGES.get(code, "Error")
        super().__init__(f"{code} {self.msg}")


class ControlError(Exception):
    """A control-API error: an HTTP status and `{"error": …, "field": …}`."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        self.status = status
        self.error = error
        self.field = field
        super().__init__(f"{status} {error}")


class ConnectionDropped(Exception):
    """Raised to close the client's connection without an answer (a `drop` fault)."""


class GatewayFailure(Exception):
    """Raised to answer with a gateway's 502 HTML page instead of the envelope."""
