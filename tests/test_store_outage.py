"""While the store fails (a real Redis server stopped under the fake, a journal write that
fails): every answer is the provider's own failure, and the background jobs carry on."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
import pytest

from ideogram_mock.core.callbacks import NotServedHere
from ideogram_mock.core.dialect import Delivery
from ideogram_mock.server import app as app_module
from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.stores.base import Store
from ideogram_mock.stores.buffer import JournalBuffer
from ideogram_mock.stores.memory import MemoryStore
from ideogram_mock.testing.redis_server import redis_server
from tests.conftest import BASE, local_body, make_dispatcher, make_settings

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": "Bearer k1"}


async def test_a_store_gone_mid_run_gets_each_providers_own_failure_not_a_bare_500() -> None:
    with redis_server() as url:
        fake = make_fake(make_settings(store=url))
        transport = httpx.ASGITransport(app=create_app(fake=fake))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            created = await client.post("/api/v1/jobs/createTask", json=local_body(), headers=AUTH)
            task_id = created.json()["data"]["taskId"]
    # (the server is stopped: every store call now fails at once, connection refused)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        record = await client.get(f"/api/v1/jobs/recordInfo?taskId={task_id}", headers=AUTH)
        assert (record.status_code, record.json()["code"]) == (200, 500)
        create = await client.post("/api/v1/jobs/createTask", json=local_body(), headers=AUTH)
        assert create.json() == {"code": 500, "msg": "Internal server error", "data": None}
        status = await client.get("/v2/requests/r1/status", headers={"x-api-key": "k1"})
        assert (status.status_code, status.json()) == (500, {"error": "Internal server error"})
        job = await client.get("/v1/jobs/j1", headers={"Authorization": "Basic azE6cw=="})
        assert (job.status_code, job.json()) == (500, {"message": "Internal server error"})


async def test_a_failed_background_job_is_started_again_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app_module, "RESTART_PAUSE_S", 0.01)
    runs: list[str] = []
    ticks: list[int] = []

    async def flaky() -> None:
        runs.append("run")
        if len(runs) < 3:
            raise ConnectionError("store gone")
        await anyio.sleep_forever()

    async def steady() -> None:
        while True:
            ticks.append(1)
            await anyio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="ideogram_mock"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(app_module._kept, flaky, "flaky job")
            tg.start_soon(app_module._kept, steady, "steady job")
            await anyio.sleep(0.3)
            tg.cancel_scope.cancel()
    assert runs == ["run"] * 3  # failed twice, then kept running
    assert len(ticks) > 5  # the other job never stopped
    assert [r.getMessage() for r in caplog.records].count(
        "the flaky job failed; starting it again in 0.01 s"
    ) == 1


def test_journal_entries_a_failed_write_did_not_store_are_written_by_the_next_flush() -> None:
    written: list[tuple[str, list[Any]]] = []
    failing = [True]

    def write(journal: str, entries: Sequence[tuple[Any, ...]], keep: int) -> None:
        if failing[0]:
            raise ConnectionError("store gone")
        written.append((journal, list(entries)))

    buffer = JournalBuffer(write)
    for n in range(3):
        buffer.add("requests", (n,), keep=4)  # (a flush due here fails without raising)
    with pytest.raises(ConnectionError):
        buffer.flush()
    buffer.add("requests", (3,), keep=4)
    failing[0] = False
    buffer.flush()
    assert written == [("requests", [(0,), (1,), (2,), (3,)])]  # oldest first
    written.clear()
    failing[0] = True
    for n in range(100):  # (past a batch: the flush `add` makes fails, and is not raised)
        buffer.add("journal", (n,), keep=4)
    with pytest.raises(ConnectionError):
        buffer.flush()
    failing[0] = False
    buffer.flush()
    assert written == [("journal", [(96,), (97,), (98,), (99,)])]  # no more than it keeps


async def test_an_attempt_the_fake_fails_counts_as_failed_and_the_others_are_delivered() -> None:
    store = MemoryStore()
    sent: list[str] = []

    def delivery_for(task_id: str, now: int, due: int | None) -> tuple[str, Delivery] | None:
        if task_id == "broken":
            raise ConnectionError("store gone")
        return "kie", Delivery({"taskId": task_id})

    async def sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append(url)
        return 200

    dispatcher = make_dispatcher(store, sender, delivery_for, retries=1)
    now = dispatcher.clock.now_ms()
    dispatcher.schedule("broken", "http://127.0.0.1:9/a", now)
    dispatcher.schedule("fine", "http://127.0.0.1:9/b", now)
    assert await dispatcher.deliver_due() == 2
    assert sent == ["http://127.0.0.1:9/b"]
    assert dispatcher.pending == 1  # the broken one is kept, not lost
    assert dispatcher.next_due() == now + 1000  # after its backoff, never again at once
    assert await dispatcher.deliver_due() == 0
    dispatcher.clock.advance(1)
    assert await dispatcher.deliver_due() == 1  # its one retry
    assert dispatcher.pending == 0  # then dropped, as a receiver's failures would be


async def test_a_callback_of_a_provider_not_served_here_is_left_to_one_that_serves_it(
    durable_store: Store,
) -> None:
    store = durable_store
    sent: list[str] = []

    def not_here(task_id: str, now: int, due: int | None) -> tuple[str, Delivery] | None:
        raise NotServedHere("segmind")

    async def sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append(url)
        return 200

    dispatcher = make_dispatcher(store, sender, not_here, retries=1)
    dispatcher.lease_s = 0.05
    dispatcher.schedule("t1", "http://127.0.0.1:9/a", dispatcher.clock.now_ms())
    assert await dispatcher.deliver_due() == 1
    assert (sent, dispatcher.pending) == ([], 1)  # neither sent nor dropped
    await anyio.sleep(0.1)  # its claim lapses: due again for any process
    (again,) = store.claim(dispatcher.clock.now_ms(), 60)
    assert (again.task_id, again.attempt) == ("t1", 1)


class _SettleFailsOnce(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def settle(self, claim: Any, retry_at_ms: int | None) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("store gone")
        super().settle(claim, retry_at_ms)


async def test_a_sent_callback_the_store_failed_to_settle_is_journaled_and_not_sent_again() -> None:
    store = _SettleFailsOnce()
    sent: list[str] = []

    async def sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append(url)
        return 200

    dispatcher = make_dispatcher(store, sender, retries=3)
    dispatcher.schedule("t1", "http://127.0.0.1:9/a", dispatcher.clock.now_ms())
    assert await dispatcher.deliver_due() == 1
    for _ in range(5):
        dispatcher.clock.advance(60)
        await dispatcher.deliver_due()
    assert len(sent) == 1  # no retry was queued for it
    assert [(a.attempt, a.ok) for a in dispatcher.journal] == [(1, True)]


def test_a_failing_journal_store_is_tried_once_a_period_not_at_every_entry() -> None:
    tries: list[int] = []

    def write(journal: str, entries: Sequence[tuple[Any, ...]], keep: int) -> None:
        tries.append(len(entries))
        raise ConnectionError("store gone")

    buffer = JournalBuffer(write)
    for n in range(1000):  # many batches' worth, well within one period
        buffer.add("requests", (n,), keep=100)
    assert len(tries) <= 2  # the first full batch, and at most one more once the period passed
