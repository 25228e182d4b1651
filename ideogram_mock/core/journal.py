"""Bounded journals of what the fake answered and what it sent (oldest dropped first)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar, cast

from ideogram_mock.stores.base import Store


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


E = TypeVar("E", RequestEntry, CallbackAttempt)


class Journal(Generic[E]):
    """A named journal in the store, read back as entries of one kind; a `seq` field is the
    store's sequence number (entries are appended with seq 0)."""

    def __init__(self, store: Store, name: str, kind: type[E], size: int) -> None:
        self.store = store
        self.name = name
        self.kind: type[E] = kind
        self.size = size
        self._sequenced = "seq" in kind._fields

    def append(self, item: E) -> None:
        self.store.append(self.name, item, self.size)

    def _entry(self, seq: int, raw: tuple[Any, ...]) -> E:
        item: Any = raw if type(raw) is self.kind else self.kind(*raw)
        if self._sequenced and item[0] != seq:
            item = item._replace(seq=seq)
        return cast(E, item)

    def __iter__(self) -> Iterator[E]:
        return (self._entry(seq, raw) for seq, raw in self.store.entries(self.name))

    def __len__(self) -> int:
        return len(self.store.entries(self.name))

    def keep(self, wanted: Callable[[E], bool]) -> None:
        """Keep only the entries `wanted` accepts (order kept)."""
        self.store.retain(self.name, lambda raw: wanted(self._entry(0, raw)))


def as_json(item: RequestEntry | CallbackAttempt) -> dict[str, Any]:
    return item._asdict()
