"""Tasks as the core stores them: small, slotted, immutable (a cancel stores a changed copy),
in no provider's words (each dialect names the stages its own way)."""

from __future__ import annotations

import dataclasses
import functools
import threading
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from ideogram_mock.core.kept import Kept

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
class Timeline:
    """Offsets in ms from creation at which a task enters queuing, generating, and ends. One
    object serves every task with the same timeline (see `timeline.timeline`)."""

    queuing: int
    generating: int
    complete: int


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
    # When it enters queuing, generating and ends, from `created_ms` (shared between tasks:
    # three numbers of their own would be a tenth of a stored task's memory).
    phases: Timeline
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
    def queuing_ms(self) -> int:
        return self.created_ms + self.phases.queuing

    @property
    def generating_ms(self) -> int:
        return self.created_ms + self.phases.generating

    @property
    def complete_ms(self) -> int:
        return self.created_ms + self.phases.complete

    def ended_at(self, now_ms: int, **changes: Any) -> Task:
        """This task ended at `now_ms` (cut short: the phases not reached by then end there
        too), with `changes` to its other fields."""
        cut = now_ms - self.created_ms  # below 0 too: another host's clock may be behind
        phases = self.phases
        ended = Timeline(min(phases.queuing, cut), min(phases.generating, cut), cut)
        return dataclasses.replace(self, phases=ended, **changes)

    @property
    def request(self) -> str:
        packed = self.packed_request
        return packed if isinstance(packed, str) else _unpack(packed)


# Requests this long or longer are kept deflated (the seed's 600-character prompt: 693 → 369
# bytes against its provider's vocabulary, 457 without one).
PACK_FROM = 256
# An 8 KiB window and a small hash table: requests are short, and set-up is most of the cost.
_WBITS, _MEM_LEVEL = -13, 4
# Preset dictionaries, by number (0: none); a packed request's first byte is its dictionary's.
_VOCABULARIES: list[bytes] = [b""]
_PRIMED: list[zlib._Compress] = []
_VOCABULARY_LOCK = threading.Lock()


def _compressor(words: bytes) -> zlib._Compress:
    if not words:
        return zlib.compressobj(6, zlib.DEFLATED, _WBITS, _MEM_LEVEL)
    return zlib.compressobj(6, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, words)


_PRIMED.append(_compressor(b""))


def vocabulary(words: bytes) -> int:
    """The number `pack_request` knows a preset dictionary by: the words a provider's
    requests are made of (its field names and enum values), which deflate then need not spell
    out. The same words get the same number; a process keeps at most 255 (then: 0, none)."""
    with _VOCABULARY_LOCK:
        if words in _VOCABULARIES:
            return _VOCABULARIES.index(words)
        if len(_VOCABULARIES) > 255:
            return 0
        _PRIMED.append(_compressor(words))
        _VOCABULARIES.append(words)
        return len(_VOCABULARIES) - 1


def pack_request(request: str, vocabulary: int = 0) -> str | bytes:
    """A request as a task keeps it: deflated when long and when that saves room, against a
    preset dictionary (see `vocabulary`). Each is an independent raw deflate stream, from a
    copy of a compressor primed with the dictionary (cheaper than priming a new one).

    A request met again (a client's tests and load runs send the same body over and over) gets
    the same object back, kept once for every task that made it, without deflating it again
    (the last `_MEMO_SIZE` requests up to `_MEMO_UP_TO` characters are remembered)."""
    if len(request) < PACK_FROM:
        return request
    if len(request) > _MEMO_UP_TO:  # the memo's bound is its count times this
        return _deflated(request, vocabulary)
    return _packed(request, vocabulary)


_MEMO_SIZE, _MEMO_UP_TO = 256, 8192


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _packed(request: str, vocabulary: int) -> str | bytes:
    return _deflated(request, vocabulary)


def _deflated(request: str, vocabulary: int) -> str | bytes:
    data = request.encode()
    packer = _PRIMED[vocabulary].copy()
    packed = bytes((vocabulary,)) + packer.compress(data) + packer.flush()
    return packed if len(packed) + 16 < len(data) else request


# The requests of the tasks being polled now, inflated: the last 1,024 up to `_MEMO_UP_TO`
# characters each (a longer one, up to the body limit, is inflated at every read instead).
_UNPACKED: Kept[bytes, str] = Kept(1024, 1024 * _MEMO_UP_TO, _MEMO_UP_TO, len)


def _unpack(packed: bytes) -> str:
    """A deflated request."""
    request = _UNPACKED.get(packed)
    if request is not None:
        return request
    words = _VOCABULARIES[packed[0]]
    inflate = zlib.decompressobj(_WBITS, words) if words else zlib.decompressobj(_WBITS)
    request = inflate.decompress(packed[1:]).decode()
    _UNPACKED.put(packed, request)
    return request
