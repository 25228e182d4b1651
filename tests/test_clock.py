from __future__ import annotations

import pytest

from ideogram_mock.core.clock import MANUAL_EPOCH_MS, ManualClock, RealClock, make_clock


def test_clock_manual_starts_at_its_epoch_and_moves_only_when_told() -> None:
    clock = ManualClock()
    assert clock.now_ms() == MANUAL_EPOCH_MS
    clock.advance(1.5)
    assert clock.now_ms() == MANUAL_EPOCH_MS + 1500


def test_clock_manual_refuses_to_go_back() -> None:
    with pytest.raises(ValueError, match="forward"):
        ManualClock().advance(-1)


def test_clock_real_can_be_shifted_forward() -> None:
    clock = RealClock()
    before = clock.now_ms()
    clock.advance(3600)
    assert clock.now_ms() - before >= 3_600_000


def test_clock_make_clock_names_the_choices() -> None:
    assert make_clock("manual").mode == "manual"
    assert make_clock("real").mode == "real"
    with pytest.raises(ValueError, match="real or manual"):
        make_clock("sundial")
