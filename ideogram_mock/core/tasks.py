"""Tasks as the fake stores them: small, slotted, immutable after creation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TaskState(StrEnum):
    WAITING = "waiting"
    QUEUING = "queuing"
    GENERATING = "generating"
    SUCCESS = "success"
    FAIL = "fail"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCESS, TaskState.FAIL)


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


@dataclass(frozen=True, slots=True)
class Failure:
    """How a task fails: kie's `failCode` (a string) and `failMsg`."""

    code: str
    msg: str


@dataclass(frozen=True, slots=True)
class Task:
    """A task; its state at any time follows from these fields and the clock (see lifecycle)."""

    task_id: str
    api_key: str
    model: str
    param: str
    callback_url: str | None
    created_ms: int
    queuing_ms: int
    generating_ms: int
    complete_ms: int
    num_images: int
    size: tuple[int, int]
    image_key: int
    credits: int
    failure: Failure | None
    rule_id: str | None
