"""State in this process's memory (the pytest plugin's store: fastest, isolated per test)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from ideogram_mock.core.tasks import Task
from ideogram_mock.stores.base import UNCHANGED, Change, Claim, R


class MemoryStore:
    location = "memory"
    kind = "memory"
    durable = False

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._blobs: dict[int, tuple[int, bytes]] = {}
        self._counters: dict[str, int] = {}
        self._docs: dict[str, dict[str, Any]] = {}
        self._journals: dict[str, deque[tuple[int, tuple[Any, ...]]]] = {}
        self._journal_seq: dict[str, int] = {}
        self._queue: list[tuple[int, int, str, str, int]] = []
        self._claimed: set[int] = set()
        self._queue_seq = 0

    # ---- tasks ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def add(self, task: Task) -> None:
        if task.task_id in self._tasks:
            raise KeyError(f"task {task.task_id} exists")
        self._tasks[task.task_id] = task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def replace(self, task: Task, if_ends_at: int | None = None) -> None:
        stored = self._tasks.get(task.task_id)
        if stored is None:
            raise KeyError(f"no task {task.task_id}")
        if if_ends_at is not None and stored.complete_ms != if_ends_at:
            raise KeyError(f"task {task.task_id} changed")
        self._tasks[task.task_id] = task

    def remove(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)

    def evict(self, provider: str, ended_before_ms: int) -> int:
        # Oldest first, and no further than the first task created after the moment: no task
        # created later can have ended before it (the clock only moves forward).
        gone = []
        for task in self._tasks.values():
            if task.created_ms >= ended_before_ms:
                break
            if task.provider == provider and task.complete_ms < ended_before_ms:
                gone.append(task.task_id)
        for task_id in gone:
            del self._tasks[task_id]
        return len(gone)

    # ---- blobs ----------------------------------------------------------------------------
    def put_blob(self, key: int, data: bytes, at_ms: int = 0) -> None:
        self._blobs[key] = (at_ms, data)

    def get_blob(self, key: int) -> bytes | None:
        found = self._blobs.get(key)
        return None if found is None else found[1]

    def evict_blobs(self, before_ms: int) -> int:
        gone = [k for k, (at, _) in self._blobs.items() if at < before_ms]
        for key in gone:
            del self._blobs[key]
        return len(gone)

    # ---- counters and documents -----------------------------------------------------------
    def next_number(self, name: str) -> int:
        value = self._counters.get(name, 0) + 1
        self._counters[name] = value
        return value

    def read(self, kind: str, key: str) -> Any:
        docs = self._docs.get(kind)
        return None if docs is None else docs.get(key)

    def prefetch(self, documents: Sequence[tuple[str, str]], task_id: str | None = None) -> None:
        pass  # every read is a dict lookup

    def prefetch_soon(
        self, documents: Sequence[tuple[str, str]], task_id: str | None = None
    ) -> Awaitable[None] | None:
        return None

    def update(self, kind: str, key: str, change: Change[R]) -> R:
        docs = self._docs.setdefault(kind, {})
        new, result = change(docs.get(key))
        if new is None:
            docs.pop(key, None)
        elif new is not UNCHANGED:
            docs[key] = new
        return result

    def documents(self, kind: str) -> list[tuple[str, Any]]:
        return sorted(self._docs.get(kind, {}).items())

    # ---- journals -------------------------------------------------------------------------
    def append(self, journal: str, entry: tuple[Any, ...], keep: int) -> None:
        kept = self._journals.get(journal)
        if kept is None or kept.maxlen != keep:
            kept = self._journals[journal] = deque(kept or (), maxlen=keep)
        seq = self._journal_seq.get(journal, 0) + 1
        self._journal_seq[journal] = seq
        kept.append((seq, entry))

    def flush(self) -> None:
        pass  # nothing waits: entries are kept as they come

    def entries(self, journal: str) -> list[tuple[int, tuple[Any, ...]]]:
        return list(self._journals.get(journal, ()))

    def retain(self, journal: str, wanted: Callable[[tuple[Any, ...]], bool]) -> None:
        kept = self._journals.get(journal)
        if kept is not None:
            chosen = [item for item in kept if wanted(item[1])]
            kept.clear()
            kept.extend(chosen)

    # ---- the callback queue ---------------------------------------------------------------
    def push(self, due_ms: int, task_id: str, url: str, attempt: int) -> None:
        self._queue_seq += 1
        heapq.heappush(self._queue, (due_ms, self._queue_seq, task_id, url, attempt))

    def claim(self, now_ms: int, lease_s: float) -> list[Claim]:
        due = []
        while self._queue and self._queue[0][0] <= now_ms:
            at, seq, task_id, url, attempt = heapq.heappop(self._queue)
            self._claimed.add(seq)
            due.append(Claim(seq, at, task_id, url, attempt))
        return due

    def renew(self, claim: Claim, lease_s: float) -> Claim | None:
        # (one process: a claim holds until it is settled)
        return claim if claim.id in self._claimed else None

    def settle(self, claim: Claim, retry_at_ms: int | None) -> None:
        self._claimed.discard(claim.id)
        if retry_at_ms is not None:
            self.push(retry_at_ms, claim.task_id, claim.url, claim.attempt + 1)

    def release(self, claim: Claim) -> None:
        if claim.id in self._claimed:
            self._claimed.discard(claim.id)
            heapq.heappush(
                self._queue, (claim.due_ms, claim.id, claim.task_id, claim.url, claim.attempt)
            )

    def next_due(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def pending(self) -> int:
        return len(self._queue) + len(self._claimed)

    # ---- the whole ------------------------------------------------------------------------
    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def close(self) -> None:
        pass
