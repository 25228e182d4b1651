from __future__ import annotations

import dataclasses

import orjson
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


def test_tasks_keep_a_long_request_deflated_and_give_it_back_whole() -> None:
    import threading

    from ideogram_mock.core.tasks import PACK_FROM, pack_request
    from ideogram_mock.stores.codec import task_from_bytes, task_to_bytes

    short = '{"prompt":"a knight"}'
    assert pack_request(short) == short  # not worth it
    requests = [
        orjson.dumps({"input": {"prompt": f"ünïcode knight {i} " * 40}}).decode() for i in range(5)
    ]
    packed = [pack_request(r) for r in requests]
    assert all(
        isinstance(p, bytes) and len(p) < len(r) / 2 for p, r in zip(packed, requests, strict=True)
    )
    # Each is whole on its own (a later one does not lean on an earlier one), in any order,
    # and packed in another thread too.
    from_thread: list[str | bytes] = []
    worker = threading.Thread(target=lambda: from_thread.append(pack_request(requests[0])))
    worker.start()
    worker.join()
    for request, p in reversed(
        list(zip([*requests, requests[0]], [*packed, *from_thread], strict=True))
    ):
        task = _task((1, 2, 3))
        task = dataclasses.replace(task, packed_request=p)
        assert task.request == request
        assert task_from_bytes(task_to_bytes(task)).request == request
    assert len(requests[0]) >= PACK_FROM
