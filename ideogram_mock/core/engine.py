"""The fake as a domain object, in no provider's words: tasks on a timeline, accounts, rules,
result files and callbacks. Dialects translate their wire formats into these calls."""

from __future__ import annotations

import functools
import hashlib
import math
import random
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from ideogram_mock.core import images
from ideogram_mock.core.accounts import KIND as ACCOUNT_KIND
from ideogram_mock.core.accounts import Account, Accounts
from ideogram_mock.core.callbacks import CallbackDispatcher, NotServedHere, Sender
from ideogram_mock.core.clock import KEY as CLOCK_KEY
from ideogram_mock.core.clock import KIND as CLOCK_KIND
from ideogram_mock.core.clock import Clock, make_clock
from ideogram_mock.core.dialect import Delivery, Dialect
from ideogram_mock.core.errors import (
    BadSignature,
    ConnectionDropped,
    FileGone,
    FileMissing,
    GatewayFailure,
    InsufficientCredits,
    InvalidInput,
    LinkExpired,
    Maintenance,
    NotAFileUrl,
    Scripted,
    TaskNotFound,
)
from ideogram_mock.core.files import Files
from ideogram_mock.core.journal import CallbackAttempt, Journal, RequestEntry
from ideogram_mock.core.media import ACCEPTED, Fetcher, Inputs, check_inputs
from ideogram_mock.core.ratelimit import RateLimiter
from ideogram_mock.core.rules import BOOK as RULES_BOOK
from ideogram_mock.core.rules import KIND as RULES_KIND
from ideogram_mock.core.rules import RuleBook, triggers_in
from ideogram_mock.core.tasks import Failure, Speed, Stage, Task, pack_request, vocabulary
from ideogram_mock.core.timeline import stage_at, timeline
from ideogram_mock.settings import Settings
from ideogram_mock.stores import held
from ideogram_mock.stores.base import UNCHANGED, Store
from ideogram_mock.stores.memory import MemoryStore

# Documents a reset keeps: the link-signing secret and the clock.
SECRET = ("meta", "signing-secret")
CLOCK_STATE = (CLOCK_KIND, CLOCK_KEY)
# How often (in task creations) old tasks are evicted.
EVICT_EVERY = 1024

# How far a clock may be moved: far beyond any test, well before dates stop being printable.
CLOCK_HORIZON_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z


@dataclass(slots=True)
class Order:
    """A new task as a dialect asks for it, already checked against the provider's spec.
    Treated as read-only, though not frozen: it lives for one request, and a frozen
    dataclass's `__init__` (one `object.__setattr__` per field) costs several times as much."""

    provider: str
    model: str
    prompt: str
    request: str  # the request as received (compact JSON), stored once
    cost: int
    speed: Speed = "balanced"
    num_images: int = 1
    size: tuple[int, int] | None = None  # None: the edit image's size when known
    default_size: tuple[int, int] = (1024, 1024)
    seed: int | None = None
    # The reference image (a URL or an asset id): it decides the character.
    reference: str | None = None
    inputs: Inputs = field(default_factory=Inputs)
    # Input images sent as bytes (a multipart upload) rather than as URLs.
    reference_bytes: bytes | None = None
    edit_bytes: tuple[bytes, bytes] | None = None
    callback_url: str | None = None
    # What the dialect already knows: the task fails so (a check it defers to the task), and
    # it takes exactly this long (0: it ends as it starts, e.g. a synchronous call under a
    # manual clock). Both win over rules and prompt triggers.
    failure: Failure | None = None
    duration_s: float | None = None


class Fake:
    """Everything the fake knows; the web layer only translates HTTP to these calls."""

    def __init__(
        self,
        settings: Settings,
        dialects: Iterable[Dialect],
        *,
        sender: Sender,
        fetcher: Fetcher,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.dialects: dict[str, Dialect] = {d.name: d for d in dialects}
        if not self.dialects:
            raise ValueError("a fake needs at least one provider dialect")
        # Each provider's preset dictionary for stored requests, numbered on first use.
        self._vocabularies: dict[str, int] = {}
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock if clock is not None else make_clock(settings.clock, self.store)
        self.accounts = Accounts(self.store, settings.api_keys, settings.credits)
        self.limiter = RateLimiter(self.store, settings.rate_limit)
        self.rules = RuleBook(self.store, {name: d.wording for name, d in self.dialects.items()})
        size = settings.journal_size
        self.requests = Journal(self.store, "requests", RequestEntry, size)
        self.callbacks = Journal(self.store, "callbacks", CallbackAttempt, size)
        self.files = Files(settings.base_url, self._secret(), settings.image_format)
        self.fetcher = fetcher
        self.dispatcher = CallbackDispatcher(
            self.clock,
            self.delivery,
            self.callbacks,
            retries=settings.callback_retries,
            backoff_s=settings.callback_backoff_s,
            timeout_s=settings.callback_timeout_s,
            hosts=settings.callback_hosts,
            sender=sender,
            store=self.store,
            concurrency=settings.callback_concurrency,
            per_host=settings.callback_per_host,
        )
        self._jitter = random.Random(settings.seed + 1)
        self._result_ttl_ms = round(settings.result_ttl_s * 1000)
        self._record_delay_ms = round(settings.record_delay_s * 1000)
        # How long each provider keeps an ended task (fake time): past it, the task is gone
        # for every read, evicted yet or not.
        self._kept_ms = {
            name: round((dialect.retention_s or settings.retention_s) * 1000)
            for name, dialect in self.dialects.items()
        }

    def _secret(self) -> str:
        """The link-signing secret: the one set, else one drawn at random once per store (so
        links stay valid across restarts and every process sharing the store agrees)."""
        if self.settings.signing_key:
            return self.settings.signing_key

        def change(value: Any) -> tuple[Any, str]:
            if value is not None:
                return UNCHANGED, str(value)
            drawn = secrets.token_hex(32)
            return drawn, drawn

        return self.store.update(*SECRET, change)

    def reset(self, rewind_clock: bool = False) -> None:
        """Forget tasks, journals, rules, credits, rate-limit windows and pending callbacks;
        the clock stays unless `rewind_clock` (a manual clock goes back to its start, for test
        isolation). Task ids are never reused by a durable store, even after a reset."""
        kept = [(doc, self.store.read(*doc)) for doc in (SECRET, CLOCK_STATE)]
        self.store.clear()
        for doc, value in kept:
            if value is not None:
                self.store.update(*doc, _put(value))
        if rewind_clock:
            self.clock.rewind()
        self._jitter = random.Random(self.settings.seed + 1)

    # ---- requests ---------------------------------------------------------------------------

    def holding(self, api_key: str | None, task_id: str | None = None) -> _Holding:
        """One request's view: it reads the clock, the rule book and its account once (one
        round trip for all three on Redis, with the task it names), and sees its own changes
        to them."""
        return _Holding(self.store, api_key, task_id)

    def fresh(self) -> None:
        """Read the clock and the rest anew in this request (after a long wait)."""
        held.forget()

    async def gate(
        self,
        provider: str,
        endpoint: str,
        api_key: str | None,
        model: str | None = None,
        prompt: str | None = None,
    ) -> str | None:
        """Maintenance and scripted request faults, before anything else; returns the fault."""
        maintenance, ruled = self.rules.state()
        if maintenance:
            raise Maintenance("the maintenance switch is on")
        if not ruled:
            return None
        rule = self.rules.take_fault(provider, endpoint, api_key, model, prompt)
        if rule is None:
            return None
        if rule.kind == "code":
            raise Scripted(rule.code or 500, rule.msg)
        if rule.kind == "drop":
            raise ConnectionDropped(rule.id)
        if rule.kind == "gateway":
            raise GatewayFailure(rule.id)
        delay = rule.latency_ms + self._jitter.uniform(0, rule.jitter_ms)
        await anyio.sleep(delay / 1000)
        return f"{rule.id}:latency"

    def authenticate(self, api_key: str | None) -> Account:
        return self.accounts.authenticate(api_key)

    def admit(self, provider: str, account: Account) -> None:
        """The per-key rate limit of a provider's task creation (RateLimited beyond it)."""
        self.limiter.hit(f"{provider}\0{account.api_key}", self.clock.now_ms())

    def unique_bits(self, name: str) -> int:
        """128 bits never drawn before from this store for `name` (ids of tasks, assets): the
        seed and the store's counter decide them, so a run is reproducible and no id repeats
        across restarts or processes."""
        return self._bits(name, self.store.next_number(name))

    def _bits(self, name: str, number: int) -> int:
        seed = f"{self.settings.seed}:{name}:{number}".encode()
        return int.from_bytes(hashlib.blake2b(seed, digest_size=16).digest(), "big")

    def _vocabulary(self, provider: str) -> int:
        number = self._vocabularies.get(provider)
        if number is None:
            words = self.dialects[provider].request_words()
            number = self._vocabularies[provider] = vocabulary(words)
        return number

    def _new_id(self, provider: str) -> str:
        number = self.store.next_number("task-ids")
        if number % EVICT_EVERY == 0:
            self.evict()
        return self.dialects[provider].task_id(self._bits("task-ids", number))

    def evict(self) -> int:
        """Forget every provider's tasks older than its retention, and blobs older than the
        longest retention (fake time); how many tasks went."""
        now = self.clock.now_ms()
        gone, longest = 0, 0
        for name, kept_ms in self._kept_ms.items():
            longest = max(longest, kept_ms)
            gone += self.store.evict(name, now - kept_ms)
        self.store.evict_blobs(now - (longest + 86_400_000))
        return gone

    def _own_file(self, url: str) -> bytes | None:
        """The bytes behind a result URL of this fake, when it names a finished image."""
        ref = self.files.parse(url)
        task = self.store.get(ref.task_id) if ref else None
        if ref is None or task is None or task.failure is not None or not self.kept(task):
            return None
        if self.clock.now_ms() < task.complete_ms or ref.index >= task.num_images:
            return None
        return self._render(task, ref.index)

    def _known_size(self, url: str) -> tuple[int, int] | None:
        ref = self.files.parse(url)
        task = self.store.get(ref.task_id) if ref else None
        return task.size if task else None

    async def create_task(self, account: Account, order: Order) -> Task:
        """A new task; raises InsufficientCredits when the account cannot pay for it."""
        now = self.clock.now_ms()
        wording = self.dialects[order.provider].wording
        triggers = triggers_in(order.prompt, wording)
        if triggers.code is not None:
            raise Scripted(triggers.code)
        if account.balance(now) < order.cost:
            raise InsufficientCredits(f"{order.cost} credits needed")

        failure: Failure | None = order.failure or triggers.failure
        total_s = triggers.seconds
        rule_id = None
        if failure is None:
            rule = self.rules.take_outcome(
                order.provider, account.api_key, order.model, order.prompt
            )
            if rule is not None:
                failure, rule_id = self.rules.failure_of(rule, wording), rule.id
                total_s = rule.duration_s if rule.duration_s is not None else total_s

        if order.duration_s is not None:
            total_s = order.duration_s
        size = order.size
        if size is None and order.inputs.image is not None:
            size = self._known_size(order.inputs.image)
        reference, edit = order.reference_bytes, order.edit_bytes
        uploaded = [b for b in (reference, *(edit or ())) if b is not None]
        if uploaded:
            judged = [images.sniff(b) for b in uploaded]
            if any(j is None or j.fmt not in ACCEPTED for j in judged) and failure is None:
                failure = wording.media_failure
            if edit is not None:
                picture, cover = judged[-2], judged[-1]
                if (
                    picture
                    and cover
                    and (picture.width, picture.height)
                    != (
                        cover.width,
                        cover.height,
                    )
                ):
                    failure = failure or wording.media_failure
                if size is None and picture is not None:
                    size = (picture.width, picture.height)
        if self.settings.fetch_inputs:
            verdict = await check_inputs(order.inputs, self._fetch)
            if not verdict.ok and failure is None:
                failure = wording.media_failure
            if verdict.edit_size and order.size is None:
                size = verdict.edit_size
            reference = reference or verdict.reference
            edit = edit or verdict.edit
            now = self.clock.now_ms()
        elif edit is None and order.inputs.image is not None and order.inputs.mask is not None:
            edit = self._own_edit(order.inputs.image, order.inputs.mask)
        if failure is not None:
            edit = None

        phases = timeline(
            order.speed,
            order.num_images,
            self.settings.time_scale,
            fails=failure is not None,
            total_s=total_s,
        )
        task_id = self._new_id(order.provider)
        scene = (
            ("seed", order.seed, order.model, order.prompt)
            if order.seed is not None
            else (self.settings.seed, task_id)
        )
        complete = now + phases.complete
        self.accounts.charge(
            account.api_key, order.cost, now, refund_at=complete if failure is not None else None
        )
        # Names that repeat from task to task are kept once (a stored task's memory is mostly
        # its request; these are the next biggest share).
        task = Task(
            task_id=task_id,
            provider=order.provider,
            api_key=sys.intern(account.api_key),
            model=sys.intern(order.model),
            # Deflated only where tasks live as objects (memory); an outside store keeps bytes.
            packed_request=(
                order.request
                if self.store.durable
                else pack_request(order.request, self._vocabulary(order.provider))
            ),
            callback_url=None if order.callback_url is None else sys.intern(order.callback_url),
            created_ms=now,
            phases=phases,
            num_images=order.num_images,
            size=_shared_size(size or order.default_size),
            image_key=images.key_of(*scene),
            character_key=_character_key(order.reference, reference, task_id),
            edit=self._keep_edit(edit),
            credits=order.cost,
            failure=failure,
            rule_id=rule_id,
        )
        self.store.add(task)
        if order.callback_url:
            self.dispatcher.schedule(task_id, order.callback_url, complete)
        return task

    def _own_edit(self, image: str, mask: str) -> tuple[bytes, bytes] | None:
        """An edit's input and mask when both are this fake's own result files (without
        `fetch_inputs` the fake reads no other URL; with it, the input check has them)."""
        base, cover = self._own_file(image), self._own_file(mask)
        return (base, cover) if base is not None and cover is not None else None

    def _keep_edit(self, edit: tuple[bytes, bytes] | None) -> tuple[int, int] | None:
        if edit is None:
            return None
        keys = (
            images.key_of("blob", images.digest(edit[0])),
            images.key_of("blob", images.digest(edit[1])),
        )
        for key, data in zip(keys, edit, strict=True):
            self.store.put_blob(key, data, self.clock.now_ms())
        return keys

    async def _fetch(self, url: str, limit: int) -> bytes | None:
        if self.files.parse(url) is not None:
            return self._own_file(url)
        return await self.fetcher(url, limit)

    def owned(
        self, account: Account, task_id: str, now_ms: int | None = None, provider: str = ""
    ) -> Task:
        """A task of this account (and of `provider`, when named), once visible (the record
        delay) and while kept (its provider's retention); TaskNotFound otherwise. `now_ms`:
        the time the request already read (the clock now by default)."""
        task = self.store.get(task_id)
        if task is None or task.api_key != account.api_key:
            raise TaskNotFound(task_id)
        now = self.clock.now_ms() if now_ms is None else now_ms
        kept_ms = self._kept_ms.get(task.provider)  # (`kept`, inline: every poll runs this)
        if (
            kept_ms is None
            or (provider and task.provider != provider)
            or now < task.created_ms + self._record_delay_ms
            or now > task.complete_ms + kept_ms
        ):
            raise TaskNotFound(task_id)
        return task

    def kept(self, task: Task, now_ms: int | None = None) -> bool:
        """Whether a stored task is still there for reads: of a provider this process serves,
        and not past that provider's retention (evicted yet or not)."""
        kept_ms = self._kept_ms.get(task.provider)
        now = self.clock.now_ms() if now_ms is None else now_ms
        return kept_ms is not None and now <= task.complete_ms + kept_ms

    def stage(self, task: Task, now_ms: int | None = None) -> Stage:
        return stage_at(task, self.clock.now_ms() if now_ms is None else now_ms)

    def result_urls(self, task: Task) -> list[str]:
        """A finished task's result URLs (signed; the same every time they are read)."""
        if task.failure is not None or self.clock.now_ms() < task.complete_ms:
            return []
        return self.files.result_urls(task, self._result_ttl_ms)

    def credit(self, account: Account) -> int:
        """The account's balance now (as stored now: a charge since it was read counts)."""
        return self.accounts.balance(account.api_key, self.clock.now_ms())

    def download_link(self, account: Account, url: str, provider: str) -> str:
        """A fresh short-lived link for a result file of this account's task of `provider`."""
        ref = self.files.parse(url)
        if ref is None:
            raise NotAFileUrl("The url is not a file url of this service", "url")
        now = self.clock.now_ms()
        try:
            task = self.owned(account, ref.task_id, now, provider)
        except TaskNotFound:
            task = None
        if (
            task is None
            or stage_at(task, now) is not Stage.SUCCEEDED
            or ref.index >= task.num_images
            or ref.ext != self.files.ext
        ):
            raise FileGone("The file does not exist or is no longer kept", "url")
        return self.files.url(
            task.task_id, ref.index, now + round(self.settings.download_ttl_s * 1000)
        )

    def delivery(
        self, task_id: str, now_ms: int, scheduled_for: int | None = None
    ) -> tuple[str, Delivery] | None:
        """The callback of a task, in its provider's words; None once the task is forgotten,
        or for a first attempt scheduled for an end the task no longer has (it was failed
        early, and its delivery rescheduled). NotServedHere for a provider not served."""
        task = self.store.get(task_id)
        if task is None or (scheduled_for is not None and scheduled_for != task.complete_ms):
            return None
        dialect = self.dialects.get(task.provider)
        if dialect is None:  # a provider this process does not serve (a restart with fewer)
            raise NotServedHere(task.provider)
        return task.provider, dialect.callback(task, self.result_urls(task), now_ms)

    # ---- files ------------------------------------------------------------------------------
    def _render(self, task: Task, index: int, image_format: str | None = None) -> bytes:
        edit = None
        if task.edit is not None:
            base, mask = (self.store.get_blob(k) for k in task.edit)
            edit = (base, mask) if base is not None and mask is not None else None
        return self.files.render(task, index, edit, image_format)

    def image(self, task: Task, index: int = 0, image_format: str | None = None) -> bytes:
        """A succeeded task's image `index` (in `image_format`, else the fake's format), for
        providers that answer with the bytes themselves; FileMissing before it exists."""
        if self.stage(task) is not Stage.SUCCEEDED or not 0 <= index < task.num_images:
            raise FileMissing("no such image")
        return self._render(task, index, image_format)

    def file(self, task_id: str, expires: str, sig: str, name: str) -> bytes:
        """The bytes behind a file URL; FileMissing, BadSignature or LinkExpired otherwise."""
        ref = self.files.ref(task_id, expires, sig, name)
        task = self.store.get(task_id)
        now = self.clock.now_ms()
        if (
            ref is None
            or task is None
            or stage_at(task, now) is not Stage.SUCCEEDED
            or ref.index >= task.num_images
            or ref.ext != self.files.ext
            or not self.kept(task, now)
        ):
            raise FileMissing("no such file")
        if not self.files.signature_ok(ref):
            raise BadSignature("the link's signature does not match")
        if ref.expires is not None and now // 1000 > ref.expires:
            raise LinkExpired("the link has expired")
        return self._render(task, ref.index)

    # ---- control ----------------------------------------------------------------------------
    def _advance_target(self, seconds: float) -> int:
        """Where a move of `seconds` takes the clock. InvalidInput for a negative or
        non-finite step, or one past the clock's horizon."""
        if not math.isfinite(seconds) or seconds < 0:
            raise InvalidInput("seconds must be a finite number ≥ 0", "seconds")
        target = self.clock.now_ms() + round(seconds * 1000)
        if target > CLOCK_HORIZON_MS:
            raise InvalidInput(
                "the clock cannot go past 2200-01-01T00:00:00Z "
                f"({(CLOCK_HORIZON_MS - self.clock.now_ms()) / 1000:.0f} s from now)",
                "seconds",
            )
        return target

    def advance_quietly(self, seconds: float) -> bool:
        """`advance` for the common case that needs no event loop: a manual clock with no
        callback falling due on the way is simply moved (True). False, with nothing moved,
        when `advance` has deliveries to make."""
        target = self._advance_target(seconds)
        if self.clock.mode != "manual":
            return False
        due = self.dispatcher.next_due()
        if due is not None and due <= target:
            return False
        self.clock.advance(max(0, target - self.clock.now_ms()) / 1000)
        return True

    async def advance(self, seconds: float) -> int:
        """Move the clock; with a manual clock, step through due callbacks so each is on time.
        InvalidInput for a negative or non-finite step, or one past the clock's horizon."""
        target = self._advance_target(seconds)
        attempted = 0
        if self.clock.mode == "manual":
            while (due := self.dispatcher.next_due()) is not None and due <= target:
                step = max(0, due - self.clock.now_ms())
                self.clock.advance(step / 1000)
                attempted += await self.dispatcher.deliver_due()
            self.clock.advance(max(0, target - self.clock.now_ms()) / 1000)
        else:
            self.clock.advance(seconds)
        return attempted + await self.dispatcher.deliver_due()

    def cancel(self, task: Task) -> Task:
        """End a running task now, as canceled; its charge comes back (a failing task's
        comes back when it would have failed). InvalidInput once it has ended."""
        now = self.clock.now_ms()
        if stage_at(task, now).terminal:
            raise InvalidInput(f"task {task.task_id} has already ended", "taskId")
        ended = task.ended_at(now, canceled=True)
        self._replace(task, ended)
        if task.failure is None:
            self.accounts.refund(task.api_key, task.credits, now)
        return ended

    def fail_now(self, task: Task) -> Task:
        """End a running task now as failed, in its provider's words; its charge comes back
        now, and a callback it asked for is sent now. InvalidInput once it has ended."""
        now = self.clock.now_ms()
        if stage_at(task, now).terminal:
            raise InvalidInput(f"task {task.task_id} has already ended", "taskId")
        failed = task.ended_at(
            now, failure=self.dialects[task.provider].wording.failure(), edit=None
        )
        self._replace(task, failed)
        if task.failure is None:  # a failing task's refund is already due at its end
            self.accounts.refund(task.api_key, task.credits, now)
        if task.callback_url:
            # The delivery queued for the old end finds the task ended elsewhen and is dropped.
            self.dispatcher.schedule(task.task_id, task.callback_url, now)
        return failed

    def _replace(self, task: Task, ended: Task) -> None:
        """Store a running task's early end, unless another process ended it first (then the
        task has already ended, as that process answered: only one end, one refund)."""
        try:
            self.store.replace(ended, if_ends_at=task.complete_ms)
        except KeyError:
            raise InvalidInput(f"task {task.task_id} has already ended", "taskId") from None

    def forget_account(self, api_key: str) -> int:
        """Forget a key as though it never called: its account, tasks (their ids are never
        reused), rules, journal entries and pending callbacks. The number of tasks forgotten."""
        tasks = [t.task_id for t in self.store if t.api_key == api_key]
        for task_id in tasks:
            self.store.remove(task_id)  # a pending callback finds no task and is dropped
        gone = set(tasks)
        self.accounts.forget(api_key)
        self.rules.forget(api_key)
        self.requests.keep(lambda e: e.apiKey != api_key)
        self.callbacks.keep(lambda a: a.taskId not in gone)
        return len(tasks)

    def task(self, task_id: str) -> Task:
        """Any key's task, of a provider this process serves; TaskNotFound otherwise."""
        task = self.store.get(task_id)
        if task is None or task.provider not in self.dialects:
            raise TaskNotFound(task_id)
        return task

    def served(self) -> Iterator[Task]:
        """Every stored task of a provider this process serves, oldest first (a state may
        hold others': it was served with more providers)."""
        return (task for task in self.store if task.provider in self.dialects)

    async def finish(self, task_id: str) -> Task:
        """Advance the clock to the moment the task ends (nothing if it has)."""
        task = self.task(task_id)
        await self.advance(max(0, task.complete_ms - self.clock.now_ms()) / 1000)
        return task


class _Holding:
    """`Fake.holding`'s context (a class: it runs on every request, and a generator-based
    context manager costs several times as much)."""

    __slots__ = ("api_key", "store", "task_id", "token")

    def __init__(self, store: Store, api_key: str | None, task_id: str | None) -> None:
        self.store = store
        self.api_key = api_key
        self.task_id = task_id
        self.token: Any = None

    def __enter__(self) -> None:
        self._begin(soon=False)

    def start(self) -> Awaitable[None] | None:
        """`with` for a request on an event loop: the hold begins now and its documents are
        read ahead without blocking the loop where the store can; await what it returns
        (None: nothing to wait for), then leave it with `__exit__`."""
        return self._begin(soon=True)

    def _begin(self, soon: bool) -> Awaitable[None] | None:
        self.token = held.begin()
        if self.token is None or not self.store.durable:  # memory: every read is a lookup
            return None
        documents = [CLOCK_STATE, (RULES_KIND, RULES_BOOK)]
        if self.api_key:
            documents.append((ACCOUNT_KIND, self.api_key))
        try:
            if soon:
                return self.store.prefetch_soon(documents, self.task_id)
            self.store.prefetch(documents, self.task_id)
            return None
        except BaseException:
            held.end(self.token)  # no hold outlives a failed start
            self.token = None
            raise

    def __exit__(self, *exc: object) -> None:
        held.end(self.token)


_SIZES: dict[tuple[int, int], tuple[int, int]] = {}


def _shared_size(size: tuple[int, int]) -> tuple[int, int]:
    """One tuple per distinct size (there are a few dozen), not one per task."""
    if len(_SIZES) > 4096:  # sizes come from a fixed list or input images: a bound anyway
        return size
    return _SIZES.setdefault(size, size)


def _put(value: Any) -> Callable[[Any], tuple[Any, None]]:
    """A document change that sets `value`."""
    return lambda _: (value, None)


def _character_key(reference: str | None, content: bytes | None, task_id: str) -> int:
    """Who the pictures show: the reference image's content when the fake read it, else its
    URL or id, so one reference gives one character whatever the prompt or provider."""
    if content is not None:
        return images.key_of("character-bytes", images.digest(content))
    if reference:
        if len(reference) > _REFERENCE_KEYS_UP_TO:
            return images.key_of("character", reference)
        return _reference_key(reference)
    return images.key_of("character-of", task_id)


# A client's tests and load runs send the same reference over and over: the last 1,024 keys of
# references up to 2,048 characters are remembered (a 64-bit key costs a hash of the repr).
_REFERENCE_KEYS_UP_TO = 2048


@functools.lru_cache(maxsize=1024)
def _reference_key(reference: str) -> int:
    return images.key_of("character", reference)
