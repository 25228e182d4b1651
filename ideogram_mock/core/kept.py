"""A bounded map of things worth keeping a while, the oldest going first: at most `count`
entries and `budget` bytes of them, none over `largest` bytes (the rendered answers of ended
tasks, the inflated requests of the tasks being polled). Reads are plain dict reads; `put`
runs under a lock, as threads of in-process sync clients may put at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Kept(dict[K, V]):
    def __init__(self, count: int, budget: int, largest: int, size: Callable[[V], int]) -> None:
        super().__init__()
        self.count = count
        self.budget = budget
        self.largest = largest
        self._size = size
        self._bytes = 0  # of the values kept
        self._lock = threading.Lock()

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key` (instead of what was kept for it), unless it is over
        `largest` bytes: then nothing is kept for `key`."""
        size = self._size(value)
        with self._lock:
            replaced = self.pop(key, None)
            if replaced is not None:
                self._bytes -= self._size(replaced)
            if size > self.largest:
                return
            while self and (len(self) >= self.count or self._bytes + size > self.budget):
                self._bytes -= self._size(self.pop(next(iter(self))))  # the oldest
            self[key] = value
            self._bytes += size
