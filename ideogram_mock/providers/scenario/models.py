"""Scenario's vocabulary: job statuses, sizes, prices, ids and error wording."""

from __future__ import annotations

from ideogram_mock.core.dialect import Wording
from ideogram_mock.core.tasks import Failure, Speed, Stage

NAME = "scenario"
MODEL = "model_ideogram-character"
JOB_TYPE = "custom"
# The control API's word for each stage; jobs themselves show finer statuses (records.py).
STATES = {
    Stage.PENDING: "pending",
    Stage.QUEUED: "queued",
    Stage.RUNNING: "in-progress",
    Stage.SUCCEEDED: "success",
    Stage.FAILED: "failure",
    Stage.CANCELED: "canceled",
}
SPEEDS: dict[str, Speed] = {"Turbo": "turbo", "Default": "balanced", "Quality": "quality"}
CREDITS = {"Turbo": 12, "Default": 18, "Quality": 24}  # kie's prices, as creative units
DEFAULT_SPEED = "Default"
DEFAULT_ASPECT_RATIO = "4:3"
MAX_UPLOAD_BYTES = 6 * 1024 * 1024  # larger images go through /v1/uploads on the real API
UPLOAD_FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "tiff": "image/tiff",
}
URL_TTL_S = 3600  # an asset's signed url
EDIT_CAPABILITIES = ["PROMPT_EDITING", "REFRAME", "REMOVE_BACKGROUND", "UPSCALE"]

MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: "Unauthorized: missing or invalid API credentials",
    402: "Not enough creative units to run this generation",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body is too large",
    422: "Unprocessable entity",
    429: "Too many requests: the rate limit has been reached",
    500: "Internal server error",
    502: "Bad gateway",
    503: "The service is under maintenance. Please try again later.",
    504: "Gateway timeout",
}
GENERATION_FAILED = "The generation failed"
MEDIA_UNREADABLE = "An input asset could not be read as an image"
WORDING = Wording(
    error_codes=MESSAGES,
    fail_messages={"422": MEDIA_UNREADABLE, "500": GENERATION_FAILED},
    fail_default=GENERATION_FAILED,
    media_failure=Failure("422", MEDIA_UNREADABLE),
    endpoints=("uploadAsset", "getAsset", "generate", "getJob", "jobAction"),
)
