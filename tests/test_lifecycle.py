from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from ideogram_mock.core.tasks import Failure, Stage, Task, Timeline
from ideogram_mock.core.timeline import progress_at, stage_at, timeline, updated_at

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "seed"


def _task(phases_ms: tuple[int, int, int], failure: Failure | None = None) -> Task:
    q, g, c = phases_ms
    return Task(
        "a" * 32, "kie", "k", "ideogram/character", "{}", None, 1000, Timeline(q, g, c), 1,
        (1024, 1024), 1, 2, None, 18, failure, None,
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
    import random
    import threading

    from ideogram_mock.core.tasks import PACK_FROM, _packed, pack_request, vocabulary
    from ideogram_mock.server.spec import spec_words
    from ideogram_mock.stores.codec import task_from_bytes, task_to_bytes

    short = '{"prompt":"a knight"}'
    assert pack_request(short) == short  # not worth it
    kie, segmind = vocabulary(spec_words("kie-jobs.yaml")), vocabulary(spec_words("segmind.yaml"))
    assert 0 < kie != segmind and vocabulary(spec_words("kie-jobs.yaml")) == kie
    rng = random.Random(7)
    noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(20_000))
    requests = [
        orjson.dumps({"input": {"prompt": f"ünïcode knight {i} " * 40}}).decode() for i in range(5)
    ] + [orjson.dumps({"input": {"prompt": noise}}).decode()]  # longer than deflate's window
    packed = [pack_request(r, v) for r in requests for v in (0, kie, segmind)]
    assert all(isinstance(p, bytes) for p in packed)
    assert all(len(p) < len(requests[0]) / 2 for p in packed[:15])
    # Each is whole on its own (a later one does not lean on an earlier one), in any order,
    # and packed in another thread too.
    from_thread: list[str | bytes] = []
    _packed.cache_clear()  # deflated anew there, not handed the first one back
    worker = threading.Thread(target=lambda: from_thread.append(pack_request(requests[0], kie)))
    worker.start()
    worker.join()
    expected = [r for r in requests for _ in range(3)] + [requests[0]]
    for request, p in reversed(list(zip(expected, [*packed, *from_thread], strict=True))):
        task = _task((1, 2, 3))
        task = dataclasses.replace(task, packed_request=p)
        assert task.request == request
        assert task_from_bytes(task_to_bytes(task)).request == request
    assert len(requests[0]) >= PACK_FROM


def test_a_request_met_again_is_kept_once_for_every_task_that_sent_it() -> None:
    from ideogram_mock.core.tasks import pack_request, vocabulary
    from ideogram_mock.server.spec import spec_words

    kie = vocabulary(spec_words("kie-jobs.yaml"))
    request = orjson.dumps({"input": {"prompt": "a knight in the rain " * 30}}).decode()
    first = pack_request(request, kie)
    # The same text from another body (as each request's parse makes it): the same object.
    again = pack_request(orjson.dumps(orjson.loads(request)).decode(), kie)
    assert isinstance(first, bytes) and again is first
    # Another dictionary, or another request, is packed on its own.
    plain = pack_request(request)
    other = pack_request(request.replace("rain", "snow"), kie)
    assert plain != first and plain[0] == 0 and first[0] == kie
    assert other is not first and other != first
    task = dataclasses.replace(_task((1, 2, 3)), packed_request=other)
    assert task.request == request.replace("rain", "snow")


def test_only_requests_of_a_bounded_length_are_remembered_packed_or_inflated() -> None:
    from ideogram_mock.core import tasks

    long = orjson.dumps({"input": {"prompt": "a knight in the rain " * 1000}}).decode()
    assert len(long) > tasks._MEMO_UP_TO
    packed = tasks.pack_request(long)
    assert isinstance(packed, bytes) and tasks.pack_request(long) is not packed  # not memoized
    task = dataclasses.replace(_task((1, 2, 3)), packed_request=packed)
    assert task.request == long and packed not in tasks._UNPACKED
    short = orjson.dumps({"input": {"prompt": "a knight in the snow " * 20}}).decode()
    small = tasks.pack_request(short)
    assert isinstance(small, bytes)
    assert dataclasses.replace(task, packed_request=small).request == short
    assert tasks._UNPACKED[small] == short  # the one polled now comes from the cache


def test_a_request_packs_smaller_against_its_providers_words() -> None:
    from ideogram_mock.core.tasks import pack_request, vocabulary
    from ideogram_mock.server.spec import spec_words

    words = spec_words("kie-jobs.yaml")
    # The spec's field names and enum values as JSON spells them, and no free text.
    assert b'"prompt":' in words and b'"BALANCED"' in words and b"http" not in words
    for name in ("character", "edit", "remix"):
        seed = orjson.loads((FIXTURES / f"create_task_{name}.json").read_bytes())
        request = orjson.dumps(seed).decode()
        plain, against = pack_request(request), pack_request(request, vocabulary(words))
        assert isinstance(plain, bytes) and isinstance(against, bytes)
        assert len(against) < len(plain) * 0.9, name


def test_tasks_with_the_same_timeline_share_it_and_an_early_end_cuts_it() -> None:
    assert timeline("balanced", 2, 0.5) is timeline("balanced", 2, 0.5)
    task = _task((100, 200, 1200))
    ended = task.ended_at(1150, canceled=True)
    assert (ended.queuing_ms, ended.generating_ms, ended.complete_ms) == (1100, 1150, 1150)
    assert stage_at(ended, 1150) is Stage.CANCELED and stage_at(task, 1150) is Stage.QUEUED
    late = task.ended_at(2000, failure=Failure("500", "boom"))
    assert (late.queuing_ms, late.generating_ms, late.complete_ms) == (1100, 1200, 2000)
    assert stage_at(late, 2000) is Stage.FAILED and task.phases == Timeline(100, 200, 1200)
    # Ended by a host whose clock is behind the one that created it: ended then, all the same.
    early = task.ended_at(900, canceled=True)
    assert (early.queuing_ms, early.generating_ms, early.complete_ms) == (900, 900, 900)
    assert stage_at(early, 900) is Stage.CANCELED
