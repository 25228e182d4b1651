from __future__ import annotations

import pytest

from ideogram_mock.core.tasks import Failure, Stage, Task
from ideogram_mock.core.timeline import progress_at, stage_at, timeline, updated_at


def _task(phases_ms: tuple[int, int, int], failure: Failure | None = None) -> Task:
    q, g, c = phases_ms
    return Task(
        "a" * 32, "kie", "k", "ideogram/character", "{}", None, 1000, 1000 + q, 1000 + g,
        1000 + c, 1, (1024, 1024), 1, 2, None, 18, failure, None,
    )  # fmt: skip


def test_lifecycle_timeline_is_about_20_seconds_for_one_balanced_image() -> None:
    phases = timeline("balanced", 1, 1.0)
    assert 15_000 <= phases.complete <= 25_000
    assert 0 < phases.queuing < phases.generating < phases.complete


def test_lifecycle_timeline_scales_and_zero_is_instant() -> None:
    assert timeline("quality", 4, 0.5).complete * 2 == pytest.approx(
        timeline("quality", 4, 1.0).complete, abs=2
    )
    assert timeline("turbo", 1, 0.0).complete == 0


def test_lifecycle_failing_tasks_end_sooner_and_total_fixes_the_length() -> None:
    assert timeline("balanced", 1, 1.0, fails=True).complete < timeline("balanced", 1, 1.0).complete
    assert timeline("quality", 3, 1.0, total_s=1.0).complete == 1000


def test_lifecycle_state_moves_forward_through_every_phase() -> None:
    task = _task((100, 200, 1000))
    states = [stage_at(task, t) for t in (1000, 1100, 1200, 1999, 2000, 10**12)]
    assert states == [
        Stage.PENDING,
        Stage.QUEUED,
        Stage.RUNNING,
        Stage.RUNNING,
        Stage.SUCCEEDED,
        Stage.SUCCEEDED,
    ]
    assert stage_at(_task((1, 2, 3), Failure("500", "x")), 5000) is Stage.FAILED
    assert Stage.FAILED.terminal
    assert not Stage.QUEUED.terminal


def test_lifecycle_progress_and_update_time() -> None:
    task = _task((100, 200, 1200))
    assert [progress_at(task, t) for t in (1000, 1200, 1700, 2199, 2200)] == [0, 0, 50, 99, 100]
    assert [updated_at(task, t) for t in (1000, 1150, 1500, 5000)] == [1000, 1100, 1200, 2200]
