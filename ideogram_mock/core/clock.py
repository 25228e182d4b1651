"""Clocks in Unix milliseconds: the real one (shiftable) and a manual one for tests.

A clock's state (the manual time, the real clock's shift) is a document in the store, so it
survives a restart and every process sharing the store sees one time.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from ideogram_mock.stores.base import Store
from ideogram_mock.stores.memory import MemoryStore

# 2026-01-01T00:00:00Z: where a manual clock starts unless told otherwise.
MANUAL_EPOCH_MS = 1_767_225_600_000
KIND, KEY = "clock", "state"


class Clock(Protocol):
    mode: str

    def now_ms(self) -> int: ...

    def advance(self, seconds: float) -> None: ...

    def rewind(self) -> None: ...


class _Stored:
    """A number kept in a store (the manual time, or the real clock's shift)."""

    def __init__(self, store: Store | None, name: str, start: int) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.name = name
        self.start = start

    def value(self) -> int:
        state = self.store.read(KIND, KEY)
        return self.start if state is None else int(state.get(self.name, self.start))

    def add(self, ms: int) -> None:
        def change(state: Any) -> tuple[Any, None]:
            state = state or {}
            return {**state, self.name: int(state.get(self.name, self.start)) + ms}, None

        self.store.update(KIND, KEY, change)

    def reset(self) -> None:
        self.store.update(KIND, KEY, lambda state: ({**(state or {}), self.name: self.start}, None))


class RealClock:
    """Wall-clock time plus whatever `advance` has added."""

    mode = "real"

    def __init__(self, store: Store | None = None) -> None:
        self._offset = _Stored(store, "offsetMs", 0)

    @property
    def offset_ms(self) -> int:
        return self._offset.value()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset.value()

    def rewind(self) -> None:
        """Undo every `advance` (a fresh fake between tests starts at the wall clock)."""
        self._offset.reset()

    def advance(self, seconds: float) -> None:
        self._offset.add(round(seconds * 1000))


class ManualClock:
    """Time that moves only when told to."""

    mode = "manual"

    def __init__(self, start_ms: int = MANUAL_EPOCH_MS, store: Store | None = None) -> None:
        self.start_ms = start_ms
        self._now = _Stored(store, "manualMs", start_ms)

    def rewind(self) -> None:
        """Back to the start: only for a fresh fake between tests."""
        self._now.reset()

    def now_ms(self) -> int:
        return self._now.value()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._now.add(round(seconds * 1000))


def make_clock(mode: str, store: Store | None = None) -> Clock:
    """The clock for a `--clock` setting."""
    if mode == "manual":
        return ManualClock(store=store)
    if mode == "real":
        return RealClock(store)
    raise ValueError(f"unknown clock {mode!r}: choose real or manual")
