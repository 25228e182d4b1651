"""Clocks in Unix milliseconds: the real one (shiftable) and a manual one for tests."""

from __future__ import annotations

import time
from typing import Protocol

# 2026-01-01T00:00:00Z: where a manual clock starts unless told otherwise.
MANUAL_EPOCH_MS = 1_767_225_600_000


class Clock(Protocol):
    mode: str

    def now_ms(self) -> int: ...

    def advance(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time plus whatever `advance` has added."""

    mode = "real"

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def rewind(self) -> None:
        """Undo every `advance` (a fresh fake between tests starts at the wall clock)."""
        self.offset_ms = 0

    def advance(self, seconds: float) -> None:
        self.offset_ms += round(seconds * 1000)


class ManualClock:
    """Time that moves only when told to."""

    mode = "manual"

    def __init__(self, start_ms: int = MANUAL_EPOCH_MS) -> None:
        self.start_ms = start_ms
        self._now = start_ms

    def rewind(self) -> None:
        """Back to the start: only for a fresh fake between tests."""
        self._now = self.start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._now += round(seconds * 1000)


def make_clock(mode: str) -> Clock:
    """The clock for a `--clock` setting."""
    if mode == "manual":
        return ManualClock()
    if mode == "real":
        return RealClock()
    raise ValueError(f"unknown clock {mode!r}: choose real or manual")
