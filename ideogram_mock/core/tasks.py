"""Tasks as the core stores them: small, slotted, immutable (a cancel stores a changed copy),
in no provider's words (each dialect names the stages its own way)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

# How fast a task renders, whatever a provider calls it (kie TURBO/BALANCED/QUALITY, ...).
Speed = Literal["turbo", "balanced", "quality"]
SPEEDS: tuple[Speed, ...] = ("turbo", "balanced", "quality")


class Stage(StrEnum):
    """Where a task is in its timeline; the last two are terminal."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (Stage.SUCCEEDED, Stage.FAILED, Stage.CANCELED)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a task fails: a code (opaque to the core: what a rule, a trigger or the input check
    chose) and a message."""

    code: str
    msg: str


@dataclass(frozen=True, slots=True)
class Task:
    """A task; its stage at any time follows from these fields and the clock (see timeline).

    `request` is the request as the provider received it (compact JSON), kept once; everything
    a dialect shows is derived from it and the timeline.
    """

    task_id: str
    provider: str
    api_key: str
    model: str
    request: str
    callback_url: str | None
    created_ms: int
    queuing_ms: int
    generating_ms: int
    complete_ms: int
    num_images: int
    size: tuple[int, int]
    image_key: int
    character_key: int
    # Blob keys of an edit's input image and mask, when the fake could read them.
    edit: tuple[int, int] | None
    credits: int
    failure: Failure | None
    rule_id: str | None
    # Ended early at the owner's request (then complete_ms is when).
    canceled: bool = False
