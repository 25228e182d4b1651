"""Journal entries on their way to a store outside the process: written in batches (one write
per 64 entries, or per 0.2 s), not one per request; `flush` writes what is waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# Write a batch: the journal, its entries (oldest first) and how many to keep.
Writer = Callable[[str, Sequence[tuple[Any, ...]], int], None]
BATCH = 64
PERIOD_S = 0.2


class JournalBuffer:
    def __init__(self, write: Writer) -> None:
        self._write = write
        self._pending: dict[str, list[tuple[Any, ...]]] = {}
        self._keep: dict[str, int] = {}
        self._count = 0
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def add(self, journal: str, entry: tuple[Any, ...], keep: int) -> None:
        with self._lock:
            self._pending.setdefault(journal, []).append(entry)
            self._keep[journal] = keep
            self._count += 1
            due = self._count >= BATCH or time.monotonic() - self._since >= PERIOD_S
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._count = 0
            self._since = time.monotonic()
        for journal, entries in pending.items():
            self._write(journal, entries, self._keep[journal])
