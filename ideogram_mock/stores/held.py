"""Documents read once per request: inside `held()`, a durable store answers a second read of a
document from what the first read (or the request's own last change) found, so one request sees
one clock, one rule book and one account, in one round trip each at most (`prefetch` makes it
one for all of them on Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

Key = tuple[str, str]
_HELD: ContextVar[dict[Key, Any] | None] = ContextVar("ideogram_mock_held_documents", default=None)
_MISSING = object()


@contextmanager
def held() -> Iterator[None]:
    """Hold the documents this request reads (nested: the outer hold stays)."""
    token = begin()
    try:
        yield
    finally:
        end(token)


def begin() -> Any:
    """`held()` without a generator, for the request path: a token for `end`."""
    if _HELD.get() is not None:
        return None
    return _HELD.set({})


def end(token: Any) -> None:
    if token is not None:
        _HELD.reset(token)


def forget() -> None:
    """Drop what this request holds (before waiting on something that others change, such
    as the clock during a long wait)."""
    documents = _HELD.get()
    if documents is not None:
        documents.clear()


def cached(kind: str, key: str) -> Any:
    """The held value, or MISSING."""
    documents = _HELD.get()
    if documents is None:
        return _MISSING
    return documents.get((kind, key), _MISSING)


# The task a request names, as a durable store read it ahead with the request's documents
# (bytes, or None when there is none): its first `get` takes it; a change drops it.
PREFETCHED_TASK = "task-bytes"


def take(kind: str, key: str) -> Any:
    """The held value, removed (read once), or MISSING."""
    documents = _HELD.get()
    if documents is None:
        return _MISSING
    return documents.pop((kind, key), _MISSING)


def keep(kind: str, key: str, value: Any) -> None:
    documents = _HELD.get()
    if documents is not None:
        documents[(kind, key)] = value


def holding() -> bool:
    return _HELD.get() is not None


MISSING = _MISSING
