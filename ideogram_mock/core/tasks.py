"""Tasks as the core stores them: small, slotted, immutable (a cancel stores a changed copy),
in no provider's words (each dialect names the stages its own way)."""

from __future__ import annotations

import functools
import threading
import zlib
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
    a dialect shows is derived from it and the timeline. A long one is kept compressed
    (`packed_request`, see `pack_request`): it is most of a stored task's memory.
    """

    task_id: str
    provider: str
    api_key: str
    model: str
    packed_request: str | bytes
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

    @property
    def request(self) -> str:
        packed = self.packed_request
        return packed if type(packed) is str else _unpack(packed)


# Requests this long or longer are kept deflated (a 600-character prompt: 693 → 457 bytes).
PACK_FROM = 256
_PACKERS = threading.local()


def pack_request(request: str) -> str | bytes:
    """A request as a task keeps it: deflated when long and when that saves room. Each is an
    independent raw deflate stream cut with a full flush from one compressor per thread (a
    new compressor per request would cost more than the compression)."""
    if len(request) < PACK_FROM:
        return request
    packer = getattr(_PACKERS, "packer", None)
    if packer is None:
        packer = _PACKERS.packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = request.encode()
    packed: bytes = packer.compress(data) + packer.flush(zlib.Z_FULL_FLUSH)
    return packed if len(packed) + 16 < len(data) else request


@functools.lru_cache(maxsize=1024)
def _unpack(packed: bytes) -> str:
    """A deflated request (the tasks being polled now come from this cache)."""
    return zlib.decompressobj(-15).decompress(packed).decode()
