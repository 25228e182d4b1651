from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest

from ideogram_mock.core.callbacks import CallbackDispatcher, HostPolicy
from ideogram_mock.providers.kie.dialect import signature
from ideogram_mock.settings import MAX_RETRIES, MAX_SECONDS
from ideogram_mock.stores.base import Store
from tests.conftest import make_dispatcher

pytestmark = pytest.mark.anyio


def test_callbacks_host_policy_default_is_loopback_only() -> None:
    policy = HostPolicy(("localhost", "127.0.0.0/8", "::1"))
    assert policy.allows("http://127.0.0.1:9/cb")
    assert policy.allows("http://127.5.6.7/cb")
    assert policy.allows("http://localhost/cb")
    assert policy.allows("http://[::1]:80/cb")
    assert not policy.allows("https://your-domain.com/api/callback")
    assert not policy.allows("http://10.0.0.1/cb")
    assert HostPolicy(("*",)).allows("https://anything.example/cb")


def test_callbacks_signature_is_kies_base64_hmac() -> None:
    # From: printf "task.1700000000" | openssl dgst -sha256 -hmac key -binary | base64
    assert signature("key", "task", "1700000000") == "gvI6gL9GybgZDXL/Mpk0Ccf/YM23cSLbj/iqVul3HJI="


def _dispatcher(
    store: Store, statuses: list[int | Exception], retries: int = 2, backoff_s: float = 1.0
) -> tuple[CallbackDispatcher, list[Any]]:
    sent: list[Any] = []

    async def sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append((url, headers))
        result = statuses[min(len(sent) - 1, len(statuses) - 1)]
        if isinstance(result, Exception):
            raise result
        return result

    return make_dispatcher(store, sender, retries=retries, backoff_s=backoff_s), sent


async def test_callbacks_due_deliveries_only_and_retry_on_failure(store: Store) -> None:
    dispatcher, _ = _dispatcher(store, [ConnectionError("refused"), 200])
    now = dispatcher.clock.now_ms()
    dispatcher.schedule("t", "http://127.0.0.1:9/cb", now + 1000)
    assert await dispatcher.deliver_due() == 0
    dispatcher.clock.advance(1)
    assert await dispatcher.deliver_due() == 1
    assert dispatcher.next_due() == now + 2000
    dispatcher.clock.advance(1)
    assert await dispatcher.deliver_due() == 1
    attempts = list(dispatcher.journal)
    assert [(a.attempt, a.ok, a.error) for a in attempts] == [
        (1, False, "ConnectionError: refused"),
        (2, True, None),
    ]
    assert dispatcher.pending == 0


async def test_callbacks_give_up_after_the_retries(store: Store) -> None:
    dispatcher, sent = _dispatcher(store, [500], retries=1)
    dispatcher.schedule("t", "http://127.0.0.1:9/cb", dispatcher.clock.now_ms())
    for _ in range(5):
        await dispatcher.deliver_due()
        dispatcher.clock.advance(10)
    assert len(sent) == 2
    assert [a.error for a in dispatcher.journal] == ["HTTP 500", "HTTP 500"]


async def test_callbacks_at_the_longest_backoff_and_most_retries_keep_being_retried(
    store: Store,
) -> None:
    dispatcher, sent = _dispatcher(store, [500], retries=MAX_RETRIES, backoff_s=MAX_SECONDS)
    dispatcher.schedule("t", "http://127.0.0.1:9/cb", dispatcher.clock.now_ms())
    for _ in range(MAX_RETRIES + 1):
        due = dispatcher.next_due()
        assert due is not None
        dispatcher.clock.advance(max(0, due - dispatcher.clock.now_ms()) / 1000)
        assert await dispatcher.deliver_due() == 1
    assert dispatcher.pending == 0
    assert len(sent) == MAX_RETRIES + 1


async def test_callbacks_blocked_hosts_are_journaled_not_sent_nor_retried(store: Store) -> None:
    dispatcher, sent = _dispatcher(store, [200])
    dispatcher.schedule("t", "https://example.com/cb", dispatcher.clock.now_ms())
    await dispatcher.deliver_due()
    assert sent == []
    assert dispatcher.pending == 0
    (attempt,) = dispatcher.journal
    assert attempt.error is not None
    assert attempt.error.startswith("blocked")


async def test_a_slow_receivers_backlog_gets_each_callback_once(durable_store: Store) -> None:
    # One slot for the receiver and leases shorter than the wait for it: deliveries whose
    # lease ends while they wait are claimed again (as another process would) but still
    # attempted once each. (Durable stores: only their leases end.)
    store = durable_store
    sent: list[str] = []

    async def slow(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append(orjson.loads(body)["taskId"])
        await anyio.sleep(0.2)
        return 200

    dispatcher = make_dispatcher(store, slow, retries=0, per_host=1)
    dispatcher.lease_s = 0.6  # three attempts' time: the later ones' leases end waiting
    for n in range(6):
        dispatcher.schedule(f"t{n}", "http://127.0.0.1:9/cb", dispatcher.clock.now_ms())
    async with anyio.create_task_group() as tg:
        tg.start_soon(dispatcher.run)
        with anyio.move_on_after(6 * 0.2 + 3.0):
            while dispatcher.pending:
                await anyio.sleep(0.05)
        await anyio.sleep(0.3)  # (time for a second attempt, were there one)
        tg.cancel_scope.cancel()
    assert sorted(sent) == [f"t{n}" for n in range(6)]
    assert [a.attempt for a in dispatcher.journal] == [1] * 6
    assert dispatcher.pending == 0
