"""What every store promises (memory, SQLite, the real Redis server): the same answers, atomic
changes, callbacks claimed once, state that a second handle on the same place sees."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from ideogram_mock.core.engine import EVICT_EVERY
from ideogram_mock.core.errors import InvalidInput
from ideogram_mock.core.tasks import Failure, Task, Timeline
from ideogram_mock.providers.kie.api import order_of as kie_order
from ideogram_mock.server.app import make_fake
from ideogram_mock.stores import open_store
from ideogram_mock.stores.base import UNCHANGED, Store, StoreUnavailable
from tests.conftest import Kie, local_body, make_settings, store_url


def _task(n: int, provider: str = "kie", complete_ms: int = 1_000, **changes: Any) -> Task:
    fields: dict[str, Any] = {
        "task_id": f"t{n}", "provider": provider, "api_key": "k",
        "model": "ideogram/character", "packed_request": '{"prompt":"p"}', "callback_url": None,
        "created_ms": 0, "phases": Timeline(10, 20, complete_ms),
        "num_images": 1, "size": (1024, 1024), "image_key": 2**64 - 1,
        "character_key": 2**63 + 5, "edit": None, "credits": 9, "failure": None,
        "rule_id": None,
    }  # fmt: skip
    fields.update(changes)
    return Task(**fields)


def test_stores_keep_tasks_in_creation_order_and_evict_by_provider_and_end(store: Store) -> None:
    store.add(_task(1, complete_ms=500))
    store.add(_task(2, provider="segmind", complete_ms=500))
    failed = _task(3, failure=Failure("500", "boom"), edit=(1, 2**64 - 2), rule_id="rule-1")
    store.add(failed)
    with pytest.raises(KeyError):
        store.add(_task(1))
    assert [t.task_id for t in store] == ["t1", "t2", "t3"]
    assert store.get("t3") == failed  # every field comes back as it went in
    store.replace(_task(1, complete_ms=400, canceled=True))
    assert store.get("t1") == _task(1, complete_ms=400, canceled=True)
    with pytest.raises(KeyError):
        store.replace(_task(9))
    assert store.evict("kie", 450) == 1  # t1 ended at 400; segmind's t2 is not kie's
    assert [t.task_id for t in store] == ["t2", "t3"]
    store.remove("t2")
    assert store.get("t2") is None
    assert len(store) == 1


def test_stores_keep_blobs_by_unsigned_key_and_evict_old_ones(store: Store) -> None:
    store.put_blob(2**64 - 1, b"\x00edge", at_ms=10)
    store.put_blob(0, b"zero", at_ms=100)
    assert store.get_blob(2**64 - 1) == b"\x00edge"
    assert store.get_blob(7) is None
    assert store.evict_blobs(50) == 1
    assert store.get_blob(2**64 - 1) is None
    assert store.get_blob(0) == b"zero"


def test_stores_update_documents_atomically_and_a_failed_change_leaves_them(store: Store) -> None:
    assert store.update("account", "k", lambda v: ([5], "made")) == "made"
    assert store.update("account", "k", lambda v: (UNCHANGED, v)) == [5]

    def refuse(value: Any) -> tuple[Any, None]:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        store.update("account", "k", refuse)
    assert store.read("account", "k") == [5]
    store.update("account", "j", lambda v: ({"a": 1}, None))
    assert store.documents("account") == [("j", {"a": 1}), ("k", [5])]
    store.update("account", "k", lambda v: (None, None))
    assert store.read("account", "k") is None


def test_stores_count_exactly_under_concurrent_updates(store: Store) -> None:
    def bump(value: Any) -> tuple[Any, None]:
        return (value or 0) + 1, None

    def work() -> None:
        for _ in range(100):
            store.update("counter", "n", bump)
            store.next_number("ids")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.read("counter", "n") == 400
    assert store.next_number("ids") == 401


def test_stores_journals_are_bounded_numbered_and_filterable(store: Store) -> None:
    for n in range(150):
        store.append("requests", (0, n, "kie"), keep=100)
    kept = store.entries("requests")
    # The memory store trims at once; the others may keep a few extra until their next trim.
    assert 100 <= len(kept) <= 164
    assert kept[-1] == (150, (0, 149, "kie"))
    assert [seq for seq, _ in kept] == sorted(seq for seq, _ in kept)
    store.retain("requests", lambda entry: entry[1] % 2 == 0)
    assert all(entry[1] % 2 == 0 for _, entry in store.entries("requests"))


def test_stores_claim_each_due_callback_once_and_retry_it(store: Store) -> None:
    store.push(100, "t1", "http://127.0.0.1:9/cb", 1)
    store.push(50, "t2", "http://127.0.0.1:9/cb", 1)
    assert store.next_due() == 50
    assert store.claim(40, lease_s=60) == []
    (first,) = store.claim(60, lease_s=60)
    assert (first.task_id, first.attempt) == ("t2", 1)
    assert store.claim(200, lease_s=60)[0].task_id == "t1"  # t2 is still held
    assert store.claim(200, lease_s=60) == []
    assert store.pending() == 2
    store.settle(first, retry_at_ms=300)
    (retry,) = store.claim(300, lease_s=60)
    assert (retry.task_id, retry.attempt) == ("t2", 2)
    store.release(retry)  # cut short: due again at once
    (again,) = store.claim(300, lease_s=60)
    assert (again.task_id, again.attempt) == ("t2", 2)
    store.settle(again, None)
    assert store.pending() == 1


def test_stores_clear_forgets_everything_but_durable_counters(store: Store) -> None:
    store.add(_task(1))
    store.put_blob(1, b"x")
    store.update("account", "k", lambda v: ([1], None))
    store.append("callbacks", ("kie",), keep=10)
    store.push(1, "t1", "u", 1)
    assert store.next_number("task-ids") == 1
    store.clear()
    assert (len(store), store.get_blob(1), store.read("account", "k")) == (0, None, None)
    assert (store.entries("callbacks"), store.pending(), store.next_due()) == ([], 0, None)
    store.append("callbacks", ("kie",), keep=10)
    assert store.entries("callbacks")[0][0] == 1
    assert store.next_number("task-ids") == (2 if store.durable else 1)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_durable_stores_are_shared_by_every_handle_on_one_place(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(kind, tmp_path, request)
    one, two = open_store(url), open_store(url)
    try:
        one.add(_task(1))
        one.push(0, "t1", "u", 1)
        assert two.get("t1") == _task(1)
        claimed = [one.claim(10, 60), two.claim(10, 60)]
        assert sorted(len(c) for c in claimed) == [0, 1]  # exactly one handle got it
        assert two.next_number("task-ids") == 1
        assert one.next_number("task-ids") == 2
    finally:
        one.close()
        two.close()
    reopened = open_store(url)
    assert reopened.get("t1") == _task(1)
    assert reopened.pending() == 1  # held by a closed handle until its lease ends
    assert reopened.claim(10, 60) == []
    reopened.close()


def test_a_lease_that_ends_makes_the_delivery_due_again(store: Store) -> None:
    store.push(0, "t1", "u", 1)
    assert len(store.claim(10, lease_s=-1)) == 1  # a lease already over: its process died
    if store.durable:
        (again,) = store.claim(10, lease_s=60)
        assert again.task_id == "t1"


def test_a_replace_on_condition_keeps_the_first_of_two_changes(store: Store) -> None:
    store.add(_task(1, complete_ms=1_000))
    store.replace(_task(1, complete_ms=400, canceled=True), if_ends_at=1_000)
    with pytest.raises(KeyError):  # a second change made from the same old copy
        store.replace(_task(1, complete_ms=500, canceled=True), if_ends_at=1_000)
    stored = store.get("t1")
    assert stored is not None and stored.complete_ms == 400
    with pytest.raises(KeyError):
        store.replace(_task(9), if_ends_at=1_000)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_two_processes_cancelling_one_task_end_and_refund_it_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(kind, tmp_path, request)
    one, two = (make_fake(make_settings(store=url)) for _ in range(2))
    try:
        account = one.authenticate("k")
        task = await one.create_task(account, kie_order(local_body()))
        seen_by_two = two.task(task.task_id)  # both read it running
        charged = one.credit(account)
        one.cancel(one.task(task.task_id))
        with pytest.raises(InvalidInput, match="already ended"):
            two.cancel(seen_by_two)
        assert two.credit(account) == charged + task.credits  # refunded once
    finally:
        one.store.close()
        two.store.close()


def test_a_claim_renews_only_while_it_is_the_newest(store: Store) -> None:
    store.push(0, "t1", "u", 1)
    (claim,) = store.claim(10, lease_s=60)
    assert store.renew(claim, 60)
    store.settle(claim, None)
    assert not store.renew(claim, 60)  # settled: nothing to hold
    if store.durable:  # leases end only where processes share the queue
        store.push(0, "t2", "u", 1)
        (lapsed,) = store.claim(10, lease_s=-1)  # its lease ends while it waits
        (newer,) = store.claim(10, lease_s=60)  # taken again (by any process)
        assert not store.renew(lapsed, 60)  # the first may not start an attempt
        assert store.renew(newer, 60)
        assert store.claim(10, lease_s=60) == []  # renewed: held


def test_unknown_or_unreachable_stores_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory, sqlite:///PATH or redis://"):
        open_store("postgres://x")
    with pytest.raises(ValueError, match="sqlite:///PATH"):
        open_store("sqlite://relative")
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreUnavailable):
        open_store(f"sqlite:///{tmp_path}/file/state.db")
    with pytest.raises(StoreUnavailable):
        open_store("redis://127.0.0.1:9/0")


@pytest.mark.anyio
@pytest.mark.parametrize("settings", [make_settings(retention_s=60.0, rate_limit=None)])
async def test_tasks_older_than_their_retention_are_evicted_as_new_ones_come(kie: Kie) -> None:
    old = await kie.create_id()
    await kie.advance(120)  # ended long past the 60 s retention
    assert (await kie.record(old))["code"] == 422  # "recordInfo is null": gone for reads
    assert kie.fake.store.get(old) is not None  # stored until tasks come
    for _ in range(EVICT_EVERY):
        await kie.create_id()
    assert kie.fake.store.get(old) is None  # forgotten
    assert len(kie.fake.store) == EVICT_EVERY


def test_stores_a_task_read_ahead_is_taken_once_and_a_change_drops_it(store: Store) -> None:
    from ideogram_mock.stores import held

    store.add(_task(1))
    with held.held():
        store.prefetch([], "t1")
        assert store.get("t1") == _task(1)
        store.replace(_task(1, complete_ms=7))
        found = store.get("t1")
        assert found is not None and found.complete_ms == 7
    with held.held():
        store.prefetch([], "t1")
        store.replace(_task(1, complete_ms=9))  # this request's own change, after reading ahead
        found = store.get("t1")
        assert found is not None and found.complete_ms == 9
        store.prefetch([], "t404")
        assert store.get("t404") is None
    assert store.get("t1") == _task(1, complete_ms=9)


def _redis_store(url: str) -> Any:
    from ideogram_mock.stores.redis import RedisStore

    return RedisStore(f"{url}{'&' if '?' in url else '?'}prefix=t{uuid.uuid4().hex}")


def test_redis_reads_ahead_on_its_own_connection_through_a_script_flush_and_a_kill() -> None:
    import redis

    from ideogram_mock.stores import held
    from ideogram_mock.stores.redis_reads import LANE_NAME
    from ideogram_mock.testing.redis_server import redis_server

    with redis_server() as url:  # a server of its own: this test kills connections
        store = _redis_store(url)
        admin = redis.Redis.from_url(url)

        def lanes() -> list[dict[str, Any]]:
            return [c for c in admin.client_list() if c.get("name") == LANE_NAME]

        try:
            store.add(_task(1))

            def read_ahead() -> Task | None:
                with held.held():
                    store.prefetch([], "t1")
                    found: Task | None = store.get("t1")
                    return found

            assert read_ahead() == _task(1)
            admin.script_flush()  # the server forgets the read-ahead script
            assert read_ahead() == _task(1)
            (lane,) = lanes()  # the read went on the lane's own connection
            admin.client_kill_filter(_id=lane["id"])
            assert read_ahead() == _task(1)  # the ordinary way, this once
            assert read_ahead() == _task(1)
            assert [c["id"] for c in lanes()] != [lane["id"]]  # a new connection of its own
            assert len(lanes()) == 1
        finally:
            store.close()
            admin.close()


def test_redis_reads_ahead_right_from_many_threads_at_once(redis_url: str) -> None:
    from ideogram_mock.stores import held

    store = _redis_store(redis_url)
    try:
        for n in range(8):
            store.add(_task(n, complete_ms=1_000 + n))
        wrong: list[tuple[int, Task | None]] = []

        def poll(n: int) -> None:
            for _ in range(200):
                with held.held():
                    store.prefetch([], f"t{n}")
                    found = store.get(f"t{n}")
                if found != _task(n, complete_ms=1_000 + n):
                    wrong.append((n, found))

        threads = [threading.Thread(target=poll, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert wrong == []
    finally:
        store.close()


def test_sqlite_reads_ahead_what_another_process_changed_since(tmp_path: Path) -> None:
    from ideogram_mock.stores import held

    url = f"sqlite:///{tmp_path}/state.db"
    mine, theirs = open_store(url), open_store(url)  # two connections, as two processes have
    try:
        mine.add(_task(1))
        mine.update("account", "k", lambda _: ([5, 0, []], None))

        def read_ahead() -> tuple[Any, Task | None]:
            with held.held():
                mine.prefetch([("account", "k")], "t1")
                found: Task | None = mine.get("t1")
                return mine.read("account", "k"), found

        assert read_ahead() == ([5, 0, []], _task(1))
        assert read_ahead() == ([5, 0, []], _task(1))  # kept: nothing changed
        assert read_ahead()[1] is read_ahead()[1]  # (and not decoded again)
        theirs.update("account", "k", lambda _: ([4, 1, []], None))
        theirs.replace(_task(1, complete_ms=7))
        assert read_ahead() == ([4, 1, []], _task(1, complete_ms=7))
        mine.replace(_task(1, complete_ms=9))  # and its own changes
        mine.update("account", "k", lambda _: ([3, 2, []], None))
        assert read_ahead() == ([3, 2, []], _task(1, complete_ms=9))
        theirs.remove("t1")
        assert read_ahead() == ([3, 2, []], None)
    finally:
        mine.close()
        theirs.close()


async def _read_ahead_soon(store: Any, task_id: str) -> Task | None:
    """A request's read-ahead as the endpoint makes it (awaited on the event loop)."""
    from ideogram_mock.stores import held

    with held.held():
        waiting = store.prefetch_soon([("account", "k")], task_id)
        if waiting is not None:
            await waiting
        found: Task | None = store.get(task_id)
        return found


@pytest.mark.parametrize("resp", ["", "?protocol=3"])
def test_redis_pipelines_the_read_aheads_of_concurrent_requests(redis_url: str, resp: str) -> None:
    from ideogram_mock.stores import held

    store = _redis_store(redis_url + resp)  # (the pipeline speaks RESP2 whatever the URL says)
    try:
        for n in range(50):
            store.add(_task(n, complete_ms=1_000 + n))
        store.update("account", "k", lambda _: ([5, 0, []], None))

        async def request(n: int) -> tuple[Any, Task | None]:
            with held.held():
                waiting = store.prefetch_soon([("account", "k")], f"t{n}")
                assert waiting is not None  # pipelined, not blocking
                await waiting
                return store.read("account", "k"), store.get(f"t{n}")

        async def many() -> list[tuple[Any, Task | None]]:
            return await asyncio.gather(*(request(n % 60) for n in range(300)))

        found = asyncio.run(many())
        expected = [
            ([5, 0, []], _task(n % 60, complete_ms=1_000 + n % 60) if n % 60 < 50 else None)
            for n in range(300)
        ]
        assert found == expected
        assert asyncio.run(many()) == expected  # a new loop: the pipeline connects anew
    finally:
        store.close()


def test_redis_read_aheads_in_flight_survive_a_script_flush_and_a_killed_pipeline() -> None:
    import redis

    from ideogram_mock.stores.redis_reads import PIPELINE_NAME
    from ideogram_mock.testing.redis_server import redis_server

    with redis_server() as url:  # a server of its own: this test kills connections
        store = _redis_store(url)
        admin = redis.Redis.from_url(url)
        try:
            store.add(_task(1))

            async def run() -> list[Task | None]:
                first = await asyncio.gather(*(_read_ahead_soon(store, "t1") for _ in range(20)))
                admin.script_flush()  # the next calls get NOSCRIPT
                second = await asyncio.gather(*(_read_ahead_soon(store, "t1") for _ in range(20)))
                (pipe,) = [c for c in admin.client_list() if c.get("name") == PIPELINE_NAME]
                admin.client_kill_filter(_id=pipe["id"])
                third = await asyncio.gather(*(_read_ahead_soon(store, "t1") for _ in range(20)))
                fourth = await asyncio.gather(*(_read_ahead_soon(store, "t1") for _ in range(20)))
                (again,) = [c for c in admin.client_list() if c.get("name") == PIPELINE_NAME]
                assert again["id"] != pipe["id"]  # connected anew
                return [*first, *second, *third, *fourth]

            assert asyncio.run(run()) == [_task(1)] * 80
        finally:
            store.close()
            admin.close()


def test_redis_read_aheads_do_not_wait_forever_on_a_server_that_stops_answering() -> None:
    import redis

    from ideogram_mock.testing.redis_server import redis_server

    with redis_server() as url:
        store = _redis_store(f"{url}?socket_timeout=0.5")
        admin = redis.Redis.from_url(url)
        try:
            store.add(_task(1))

            async def run() -> list[Task | None] | None:
                await _read_ahead_soon(store, "t1")  # connected
                # Scripts (and every write) wait a minute; CLIENT UNPAUSE still goes through.
                admin.client_pause(60_000, all=False)
                try:
                    return list(
                        await asyncio.gather(*(_read_ahead_soon(store, "t1") for _ in range(5)))
                    )
                except redis.RedisError:
                    return None  # given up with the store's error, as a blocking read does

            started = time.monotonic()
            assert asyncio.run(asyncio.wait_for(run(), 20)) is None
            # Given up on after its socket timeout (0.5 s), and redis-py's retries: not after
            # the default 10 s.
            assert time.monotonic() - started < 10
        finally:
            admin.client_unpause()
            store.close()
            admin.close()


def test_redis_read_aheads_from_loops_in_several_threads_at_once_are_all_answered(
    redis_url: str,
) -> None:
    store = _redis_store(redis_url)
    try:
        for n in range(10):
            store.add(_task(n, complete_ms=1_000 + n))
        results: dict[int, list[Task | None]] = {}

        def serve(worker: int) -> None:
            async def many() -> list[Task | None]:
                calls = (_read_ahead_soon(store, f"t{n % 10}") for n in range(200))
                return list(await asyncio.gather(*calls))

            results[worker] = asyncio.run(asyncio.wait_for(many(), 30))

        threads = [threading.Thread(target=serve, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        expected = [_task(n % 10, complete_ms=1_000 + n % 10) for n in range(200)]
        assert results == dict.fromkeys(range(4), expected)
    finally:
        store.close()


def test_redis_reads_ahead_for_a_user_whose_acl_forbids_naming_connections() -> None:
    import redis

    from ideogram_mock.stores import held
    from ideogram_mock.testing.redis_server import redis_server

    with redis_server() as url:
        admin = redis.Redis.from_url(url)
        forbid = ("ACL", "SETUSER", "plain", "on", ">secret", "~*", "+@all", "-client")
        admin.execute_command(*forbid)  # type: ignore[no-untyped-call]
        store = _redis_store(url.replace("redis://", "redis://plain:secret@"))
        try:
            store.add(_task(1))

            async def requests() -> list[Task | None]:
                return list(
                    await asyncio.gather(*(_read_ahead_soon(store, "t1") for _ in range(5)))
                )

            assert asyncio.run(requests()) == [_task(1)] * 5  # pipelined
            with held.held():
                store.prefetch([], "t1")  # on the lane
                assert store.get("t1") == _task(1)
        finally:
            store.close()
            admin.close()


def test_a_claim_whose_lease_ended_cannot_settle_or_free_the_one_taken_after_it(
    durable_store: Store,
) -> None:
    store = durable_store
    store.push(0, "t1", "u", 1)
    (lapsed,) = store.claim(10, lease_s=-1)
    (newer,) = store.claim(10, lease_s=60)  # another process's, live
    store.release(lapsed)  # (a shutdown of the first)
    store.settle(lapsed, None)
    assert store.claim(10, lease_s=60) == []  # still the newer one's
    assert store.pending() == 1
    renewed = store.renew(newer, 60)
    assert renewed is not None and renewed.lease > newer.lease
    assert store.renew(newer, 60) is None  # the renewed lease is the claim now
    store.settle(renewed, None)
    assert store.pending() == 0
