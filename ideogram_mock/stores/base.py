"""The one interface every store implements; the core knows no other.

A store keeps everything the fake knows, in five shapes:
- tasks by id, in creation order (the stored request and its timeline; the rest is derived);
- blobs by 64-bit key (uploads and input images, content-addressed);
- counters that only go up (task and asset ids are drawn from them, so no id is reused);
- documents: small JSON-like values (accounts, rate-limit windows, rules, the clock), changed
  only through `update`, which is atomic even when several processes share the store;
- journals (bounded, oldest dropped first) and the callback queue, whose due deliveries are
  claimed atomically so that exactly one process sends each attempt.

Values given to a store are treated as immutable (a store may keep them as they are, or
serialize them): a change is a new value, never a mutation of the one read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

from ideogram_mock.core.tasks import Task

R = TypeVar("R")
# A change to a document: from its value (None when absent) to its new value (None deletes
# it; `UNCHANGED` leaves it as it was) and what the caller gets back.
Change = Callable[[Any], "tuple[Any, R]"]


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


class StoreUnavailable(Exception):
    """The store cannot be reached or opened (a Redis server that is down, a locked file)."""


class Claim(NamedTuple):
    """A due callback delivery, claimed by this process until it is settled or its lease ends."""

    id: int
    due_ms: int
    task_id: str
    url: str
    attempt: int
    # When the claim's lease ends (wall time): it also tells this claim from a later one of
    # the same delivery (taken after this lease ended).
    lease: float = 0.0


class Store(Protocol):
    kind: str  # memory, sqlite or redis
    # Where the state lives, for the start-up banner ("memory", "sqlite:///…", "redis://…").
    location: str
    # Whether the state outlives the process and may be shared by several of them.
    durable: bool

    # ---- tasks ----------------------------------------------------------------------------
    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Task]:
        """Every task, oldest first."""
        ...

    def add(self, task: Task) -> None:
        """Store a new task; KeyError if its id is taken."""
        ...

    def get(self, task_id: str) -> Task | None: ...

    def replace(self, task: Task, if_ends_at: int | None = None) -> None:
        """Store a changed copy of a stored task (a cancel); KeyError if there is none, or
        when `if_ends_at` is given and the stored task no longer ends then (another process
        changed it first: of two cancels of one task, one wins)."""
        ...

    def remove(self, task_id: str) -> None:
        """Forget a task (ids come from counters, so a new task never takes its id)."""
        ...

    def evict(self, provider: str, ended_before_ms: int) -> int:
        """Forget a provider's tasks that ended before a moment; how many went."""
        ...

    # ---- blobs ----------------------------------------------------------------------------
    def put_blob(self, key: int, data: bytes, at_ms: int = 0) -> None: ...

    def get_blob(self, key: int) -> bytes | None: ...

    def evict_blobs(self, before_ms: int) -> int:
        """Forget blobs stored before a moment; how many went."""
        ...

    # ---- counters and documents -----------------------------------------------------------
    def next_number(self, name: str) -> int:
        """The counter's next value (1, 2, …), atomically."""
        ...

    def read(self, kind: str, key: str) -> Any:
        """A document's value, or None."""
        ...

    def prefetch(self, documents: Sequence[tuple[str, str]], task_id: str | None = None) -> None:
        """Read documents ahead (in one round trip where that matters) for a request that holds
        its documents (see stores/held.py); nothing otherwise. `task_id`: the task the request
        names, read in the same round trip where that saves one (its first `get` takes it)."""
        ...

    def prefetch_soon(
        self, documents: Sequence[tuple[str, str]], task_id: str | None = None
    ) -> Awaitable[None] | None:
        """`prefetch` without blocking the event loop, where the store waits on a server: an
        awaitable that completes it (the loop serves other requests meanwhile), or None when
        it is complete already."""
        ...

    def update(self, kind: str, key: str, change: Change[R]) -> R:
        """Apply `change` to a document atomically; its result."""
        ...

    def documents(self, kind: str) -> list[tuple[str, Any]]:
        """Every document of a kind, by key, in key order."""
        ...

    # ---- journals -------------------------------------------------------------------------
    def append(self, journal: str, entry: tuple[Any, ...], keep: int) -> None:
        """Add an entry (its sequence number is the store's); at most `keep` are kept."""
        ...

    def flush(self) -> None:
        """Write journal entries still waiting in this process (stores outside the process
        batch them); reads of this process's own journals flush first."""
        ...

    def entries(self, journal: str) -> list[tuple[int, tuple[Any, ...]]]:
        """(sequence number, entry) for every entry kept, oldest first."""
        ...

    def retain(self, journal: str, wanted: Callable[[tuple[Any, ...]], bool]) -> None:
        """Keep only the entries `wanted` accepts."""
        ...

    # ---- the callback queue ---------------------------------------------------------------
    def push(self, due_ms: int, task_id: str, url: str, attempt: int) -> None: ...

    def claim(self, now_ms: int, lease_s: float) -> list[Claim]:
        """Take every delivery due by `now_ms` that no live lease holds, for `lease_s` seconds
        of wall time (a process that dies mid-attempt loses its claim when the lease ends)."""
        ...

    def renew(self, claim: Claim, lease_s: float) -> Claim | None:
        """Hold a claim `lease_s` seconds more from now (an attempt starts: its wait for a
        free slot must not count against it): the claim with its new lease, or None when the
        claim is no longer this one (its lease ended and the delivery was claimed again, or
        it was settled)."""
        ...

    def settle(self, claim: Claim, retry_at_ms: int | None) -> None:
        """An attempt is over: drop the delivery, or queue its next attempt (nothing when the
        claim is no longer this one: the delivery is another claim's now)."""
        ...

    def release(self, claim: Claim) -> None:
        """Give a claim back unsettled (an attempt cut short): the delivery is due again
        (unless the claim is no longer this one)."""
        ...

    def next_due(self) -> int | None: ...

    def pending(self) -> int: ...

    # ---- the whole ------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget everything; a durable store keeps its counters (no id is ever reused), the
        memory one restarts them (a fresh fake per test draws the same ids every run)."""
        ...

    def close(self) -> None: ...
