"""kie.ai's vocabulary: its state names, image sizes, prices and error wording."""

from __future__ import annotations

from ideogram_mock.core.dialect import Wording
from ideogram_mock.core.tasks import Failure, Speed, Stage

NAME = "kie"
MODELS = ("ideogram/character", "ideogram/character-edit", "ideogram/character-remix")
STATES = {
    Stage.PENDING: "waiting",
    Stage.QUEUED: "queuing",
    Stage.RUNNING: "generating",
    Stage.SUCCEEDED: "success",
    Stage.FAILED: "fail",
    Stage.CANCELED: "fail",  # kie has no cancel; no kie task is ever canceled
}
SPEEDS: dict[str, Speed] = {"TURBO": "turbo", "BALANCED": "balanced", "QUALITY": "quality"}
# Pixel sizes of `image_size` (the majority of public clients; fal.ai's presets).
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "square": (512, 512),
    "square_hd": (1024, 1024),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
DEFAULT_SIZE = IMAGE_SIZES["square_hd"]
# Credits per image: TURBO $0.06, BALANCED $0.09, QUALITY $0.12 at 1 credit ≈ $0.005.
CREDITS_PER_IMAGE = {"TURBO": 12, "BALANCED": 18, "QUALITY": 24}

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
WORDING = Wording(
    error_codes=MESSAGES,
    # Known failCode texts; any other code fails with "Generation failed".
    fail_messages={"422": MEDIA_UNAVAILABLE, "500": "Internal server error"},
    fail_default="Generation failed",
    media_failure=Failure("422", MEDIA_UNAVAILABLE),
    endpoints=("createTask", "recordInfo", "credit", "downloadUrl"),
)
