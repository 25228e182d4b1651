"""Journal entries on their way to a store outside the process: written in batches (one write
per 64 entries, or per 0.2 s), not one per request; `flush` writes what is waiting."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# Write a batch: the journal, its entries (oldest first) and how many to keep.
Writer = Callable[[str, Sequence[tuple[Any, ...]], int], None]
BATCH = 64
PERIOD_S = 0.2
LOG = logging.getLogger("ideogram_mock")


class JournalBuffer:
    def __init__(self, write: Writer) -> None:
        self._write = write
        self._pending: dict[str, list[tuple[Any, ...]]] = {}
        self._keep: dict[str, int] = {}
        self._count = 0
        self._since = time.monotonic()
        self._lock = threading.Lock()
        self._failing = False  # the last write failed (logged once until one succeeds)

    def add(self, journal: str, entry: tuple[Any, ...], keep: int) -> None:
        with self._lock:
            self._pending.setdefault(journal, []).append(entry)
            self._keep[journal] = keep
            self._count += 1
            # (after a failed write, the next try waits for the period, not every request)
            since = time.monotonic() - self._since
            due = since >= PERIOD_S or (self._count >= BATCH and not self._failing)
        if due:
            # (a write that fails here keeps the entries for the next flush: the request or
            # callback that added one is not failed for it)
            try:
                self.flush()
            except Exception:
                if not self._failing:
                    LOG.exception("writing journal entries failed; they wait for the next try")
                self._failing = True
            else:
                self._failing = False

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._count = 0
            self._since = time.monotonic()
        waiting = list(pending.items())
        for n, (journal, entries) in enumerate(waiting):
            try:
                self._write(journal, entries, self._keep[journal])
            except BaseException:
                self._put_back(waiting[n:])
                raise

    def _put_back(self, unwritten: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Entries a write failed to store go back before those added since, for the next
        flush (at most as many as each journal keeps: the oldest would be trimmed anyway)."""
        with self._lock:
            for journal, entries in unwritten:
                merged = entries + self._pending.get(journal, [])
                kept = merged[max(0, len(merged) - self._keep[journal]) :]
                self._count += len(kept) - len(self._pending.get(journal, []))
                self._pending[journal] = kept
