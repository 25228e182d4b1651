"""Segmind's vocabulary: statuses, sizes, prices and error wording."""

from __future__ import annotations

from ideogram_mock.core.dialect import Wording
from ideogram_mock.core.sizes import ASPECT_RATIOS
from ideogram_mock.core.tasks import Failure, Speed, Stage

__all__ = ["ASPECT_RATIOS"]  # re-exported: Segmind's 15 ratios are Ideogram's

NAME = "segmind"
SLUG = "ideogram-character"
STATUSES = {
    Stage.PENDING: "QUEUED",
    Stage.QUEUED: "QUEUED",
    Stage.RUNNING: "PROCESSING",
    Stage.SUCCEEDED: "COMPLETED",
    Stage.FAILED: "FAILED",
    Stage.CANCELED: "FAILED",  # Segmind has no cancel; no Segmind request is ever canceled
}
SPEEDS: dict[str, Speed] = {"Turbo": "turbo", "Default": "balanced", "Quality": "quality"}
# One fake credit is $0.005 (kie's rate), so one --credits balance serves every provider.
DOLLARS_PER_CREDIT = 0.005
CREDITS = {"Turbo": 25, "Default": 38, "Quality": 50}  # $0.125, $0.19, $0.25
DEFAULT_SPEED = "Quality"
DEFAULT_RESOLUTION = "512x1536"
DEFAULT_ASPECT_RATIO = "16:9"
RESULT_TTL_S = 3600.0  # v2 statuses and results are kept an hour
# A v2 request whose parameters the worker refuses fails this fast (Segmind's example: 0.24 s).
INVALID_FAILS_IN_S = 0.25

MISSING_KEY = "Missing Authorization or x-api-key in header"
INVALID_KEY = "Unauthorized. API key is invalid or may have expired. Please check your API key."
MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: INVALID_KEY,
    403: "Forbidden",
    404: "Not found",
    406: "Insufficient credits",
    413: "Request body is too large",
    422: "Validation error",
    429: "Rate limit exceeded. Please slow down.",
    500: "Internal server error",
    502: "Bad gateway",
    503: "The service is under maintenance. Please try again later.",
    504: "Gateway timeout",
}
INFERENCE_FAILED = "Inference failed"
MEDIA_UNREADABLE = "Could not read the input image: it must be a jpeg, png or webp image"
WORDING = Wording(
    error_codes=MESSAGES,
    fail_messages={"422": MEDIA_UNREADABLE, "500": INFERENCE_FAILED},
    fail_default=INFERENCE_FAILED,
    media_failure=Failure("422", MEDIA_UNREADABLE),
    endpoints=("generate", "submit", "status", "result", "userCredits"),
)


def dollars(credits: int) -> float:
    return round(credits * DOLLARS_PER_CREDIT, 6)
