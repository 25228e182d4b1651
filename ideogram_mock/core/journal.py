"""Bounded journals of what the fake answered and what it sent (oldest dropped first)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


# NamedTuples of strings and numbers: CPython's GC stops tracking such tuples, so a full
# journal costs collections nothing.
class RequestEntry(NamedTuple):
    seq: int
    atMs: int
    provider: str | None
    method: str
    path: str
    operationId: str | None
    apiKey: str | None
    status: int
    code: int | None
    taskId: str | None
    fault: str | None
    warning: str | None = None


class CallbackAttempt(NamedTuple):
    provider: str
    taskId: str
    url: str
    attempt: int
    atMs: int
    ok: bool
    status: int | None
    latencyMs: float
    error: str | None
    headers: dict[str, str]
    body: dict[str, Any]


class Journal(Generic[T]):
    def __init__(self, size: int) -> None:
        self._items: deque[T] = deque(maxlen=size)
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def append(self, item: T) -> None:
        self._items.append(item)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def keep(self, wanted: Callable[[T], bool]) -> None:
        """Keep only the entries `wanted` accepts (order kept)."""
        kept = [item for item in self._items if wanted(item)]
        self._items.clear()
        self._items.extend(kept)

    def clear(self) -> None:
        self._items.clear()
        self._seq = 0


def as_json(item: RequestEntry | CallbackAttempt) -> dict[str, Any]:
    return item._asdict()
