"""Callback delivery: scheduled on the fake clock, signed, retried with backoff, journaled."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlsplit

import anyio
import orjson
from anyio.abc import TaskGroup

from ideogram_mock.core.clock import Clock
from ideogram_mock.core.dialect import Delivery
from ideogram_mock.core.hosts import HostPolicy
from ideogram_mock.core.journal import CallbackAttempt, Journal
from ideogram_mock.stores.base import Claim, Store
from ideogram_mock.stores.memory import MemoryStore

__all__ = ["CallbackDispatcher", "HostPolicy", "Sender"]

# One line per attempt, for whoever configures it (`serve` does: see server/logs.py).
LOG = logging.getLogger("ideogram_mock.callbacks")
# How often a process sharing a durable store looks for deliveries others queued.
DURABLE_POLL_S = 0.5
# How long the dispatcher waits to look again when looking for due deliveries failed.
STORE_RETRY_S = 1.0
# What a provider's delivery is for a task at a moment (and, for a first attempt, the end it
# was scheduled for); None once the task is forgotten or its end has moved.
DeliveryFor = Callable[[str, int, "int | None"], "tuple[str, Delivery] | None"]


class NotServedHere(Exception):
    """The delivery's task is of a provider this process does not serve (its state was kept
    by one serving more): left to a process that does (its claim lapses)."""


class Sender(Protocol):
    """Sends one POST; returns the HTTP status, raises on a transport error or timeout."""

    def __call__(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Awaitable[int]: ...


class CallbackDispatcher:
    def __init__(
        self,
        clock: Clock,
        delivery_for: DeliveryFor,
        journal: Journal[CallbackAttempt],
        *,
        retries: int,
        backoff_s: float,
        timeout_s: float,
        hosts: tuple[str, ...] = ("*",),
        sender: Sender,
        store: Store | None = None,
        concurrency: int = 64,
        per_host: int = 4,
    ) -> None:
        # Pending deliveries live in the store: they outlive a restart, and when several
        # processes share it each attempt is claimed by exactly one of them.
        self.store: Store = store if store is not None else MemoryStore()
        self.concurrency = concurrency
        self.per_host = per_host
        # Limiters belong to an event loop; the fake may deliver from more than one (a test's
        # own loop, a portal's): one set per loop.
        self._limits: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop,
            tuple[anyio.CapacityLimiter, dict[str, anyio.CapacityLimiter]],
        ] = weakref.WeakKeyDictionary()
        self.hosts = HostPolicy(hosts)
        self.clock = clock
        self.delivery_for = delivery_for
        self.journal = journal
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.sender = sender
        self._wake: anyio.Event | None = None
        # Deliveries waiting here for a free slot, by id: the newest claim of each. A lease
        # may end while one waits (a slow receiver's backlog); claimed again, it does not
        # start a second attempt, and the wait ends by renewing the newest claim.
        self._waiting: dict[int, Claim] = {}
        # How long a claim holds (wall time): past it, a delivery whose process died
        # mid-attempt is due again for any process.
        self.lease_s = timeout_s * 2 + 5.0

    @property
    def pending(self) -> int:
        return self.store.pending()

    def next_due(self) -> int | None:
        return self.store.next_due()

    def schedule(self, task_id: str, url: str, at_ms: int) -> None:
        self.store.push(at_ms, task_id, url, 1)
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _pop_due(self, now_ms: int) -> list[Claim]:
        return self.store.claim(now_ms, self.lease_s)

    async def deliver_due(self) -> int:
        """Attempt every delivery due by now, concurrently; returns how many were attempted."""
        due = self._pop_due(self.clock.now_ms())
        if due:
            async with anyio.create_task_group() as tg:
                self._start(tg, due)
        return len(due)

    def _start(self, tg: TaskGroup, claims: list[Claim]) -> None:
        for item in claims:
            waiting = item.id in self._waiting
            self._waiting[item.id] = item
            if not waiting:
                tg.start_soon(self._attempt, item)

    def _limiters(self, url: str) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        """This loop's limit on attempts in flight, and the URL's host's share of it."""
        loop = asyncio.get_running_loop()
        limits = self._limits.get(loop)
        if limits is None:
            limits = self._limits[loop] = (anyio.CapacityLimiter(self.concurrency), {})
        host = urlsplit(url).netloc.lower()  # a receiver: its host and port
        per_host = limits[1].get(host)
        if per_host is None:
            per_host = limits[1][host] = anyio.CapacityLimiter(self.per_host)
        return limits[0], per_host

    async def _attempt(self, item: Claim) -> None:
        """One delivery, within the limits: a host's share first (a receiver that hangs or
        fails holds at most `per_host` slots, so it cannot starve another's), then the total."""
        try:
            total, host = self._limiters(item.url)
            async with host, total:
                # The newest claim of the delivery (taken again while this one waited), held
                # from now for a whole attempt; gone when another process took it meanwhile.
                renewed = self.store.renew(self._waiting.pop(item.id, item), self.lease_s)
                if renewed is None:
                    return
                item = renewed
                await self._deliver(item)
        except NotServedHere:
            self._waiting.pop(item.id, None)  # (its claim lapses, for a process serving it)
        except Exception:
            # The fake failed, not the receiver (its store gone for a moment): the other
            # attempts go on, and this one counts as a failed attempt (retried after its
            # backoff while retries are left), never due again at once.
            self._waiting.pop(item.id, None)
            retry_at = self._retry_at(item.attempt)
            LOG.exception(
                "callback attempt %d for %s failed in the fake; %s", item.attempt, item.task_id,
                "dropped" if retry_at is None else f"retried at {retry_at}",
            )  # fmt: skip
            self._settle(item, retry_at)
        except BaseException:
            # Cancelled (a shutdown) before the attempt was settled: give the claim back, so
            # the delivery is due again at once, here or after a restart.
            newest = self._waiting.pop(item.id, item)
            try:
                self.store.release(newest)
            except Exception:  # its lease ends all the same
                LOG.exception("could not give back the callback of %s", item.task_id)
            raise

    def _settle(self, item: Claim, retry_at: int | None) -> None:
        """Settle an attempt's claim; when the store fails, the claim lapses (the delivery is
        due again once its lease ends: at least once), and nothing is decided again."""
        try:
            self.store.settle(item, retry_at)
        except Exception:
            LOG.exception("could not settle the callback of %s; its claim lapses", item.task_id)

    def _retry_at(self, attempt: int) -> int | None:
        """When a failed attempt's delivery is tried again; None when no retry is left."""
        if attempt > self.retries:
            return None
        # Backoff from the attempt's end: a slow failure does not make the retry immediate.
        # (at most about 31 years: a moment past it would not fit a 64-bit millisecond)
        delay_ms: int = round(min(self.backoff_s * 1000 * 2.0 ** (attempt - 1), 1e12))
        return self.clock.now_ms() + delay_ms

    async def _deliver(self, item: Claim) -> None:
        now_ms = self.clock.now_ms()
        first = item.due_ms if item.attempt == 1 else None
        found = self.delivery_for(item.task_id, now_ms, first)
        if found is None:  # the task was forgotten (reset) after scheduling
            self.store.settle(item, None)
            return
        provider, delivery = found
        body, headers = delivery.body, delivery.headers
        status: int | None = None
        error: str | None = None
        started = time.perf_counter()
        blocked = not self.hosts.allows(item.url)
        if blocked:
            error = "blocked: the host is not in --callback-hosts (default: loopback only)"
        else:
            try:
                # The timeout covers the whole attempt, the wait for a connection included.
                with anyio.fail_after(self.timeout_s):
                    status = await self.sender(
                        item.url, orjson.dumps(body), headers, self.timeout_s
                    )
            except TimeoutError:
                error = f"timed out after {self.timeout_s:g} s"
            except Exception as exc:  # any failure to deliver is journaled, never raised
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        latency = (time.perf_counter() - started) * 1000
        ok = status is not None and 200 <= status < 300
        if not ok and error is None:
            error = f"HTTP {status}"
        # Settled first, and journaled whatever the store does: a failure here can at worst let
        # the claim lapse, never decide the attempt again nor leave it out of the journal.
        retry_at = None if ok or blocked else self._retry_at(item.attempt)
        self._settle(item, retry_at)
        try:
            self.journal.append(
                CallbackAttempt(
                    provider, item.task_id, item.url, item.attempt, now_ms, ok, status, latency,
                    error, headers, body,
                )
            )  # fmt: skip
        except Exception:
            LOG.exception("journaling the callback attempt for %s failed", item.task_id)
        if LOG.isEnabledFor(logging.INFO):
            event = {
                "provider": provider, "taskId": item.task_id, "url": item.url,
                "attempt": item.attempt, "ok": ok, "status": status,
                "latencyMs": round(latency, 2), "error": error,
            }  # fmt: skip
            LOG.info("callback", extra={"event": event})
        if retry_at is not None:
            self._poke()

    async def aclose(self) -> None:
        closer = getattr(self.sender, "aclose", None)
        if closer is not None:
            await closer()

    async def run(self) -> None:
        """Deliver on the real clock until cancelled (the app's lifespan owns this)."""
        async with anyio.create_task_group() as tg:
            while True:
                self._wake = anyio.Event()
                try:
                    now = self.clock.now_ms()
                    self._start(tg, self._pop_due(now))
                    next_at = self.next_due()
                except Exception:  # (the store gone for a moment: attempts in flight go on)
                    LOG.exception("looking for due callbacks failed; again in %g s", STORE_RETRY_S)
                    delay = STORE_RETRY_S
                else:
                    delay = float("inf") if next_at is None else max(0.0, (next_at - now) / 1000)
                if self.store.durable:
                    # Another process may queue deliveries (or die holding a claim): look again.
                    delay = min(delay, DURABLE_POLL_S)
                with anyio.move_on_after(delay):
                    await self._wake.wait()
