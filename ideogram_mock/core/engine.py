"""The fake kie.ai service as a domain object: tasks, accounts, rules, files, callbacks."""

from __future__ import annotations

import random
from typing import Any

import anyio
import orjson

from ideogram_mock.core import images
from ideogram_mock.core.accounts import Account, Accounts
from ideogram_mock.core.callbacks import CallbackDispatcher, Sender
from ideogram_mock.core.clock import Clock, make_clock
from ideogram_mock.core.errors import (
    MEDIA_UNAVAILABLE,
    RECORD_IS_NULL,
    TASK_NOT_FOUND,
    ApiError,
    ConnectionDropped,
    ControlError,
    GatewayFailure,
)
from ideogram_mock.core.files import Files
from ideogram_mock.core.journal import CallbackAttempt, Journal, RequestEntry
from ideogram_mock.core.media import Fetcher, check_inputs, http_fetch
from ideogram_mock.core.ratelimit import RateLimiter
from ideogram_mock.core.rules import RuleBook, triggers_in
from ideogram_mock.core.tasks import (
    CREDITS_PER_IMAGE,
    DEFAULT_SIZE,
    IMAGE_SIZES,
    Failure,
    Task,
    TaskState,
)
from ideogram_mock.core.timeline import state_at, timeline
from ideogram_mock.providers.kie import records
from ideogram_mock.settings import Settings
from ideogram_mock.stores.memory import TaskStore

NOT_A_FILE_URL = "The url is not a file url of this service"
FILE_GONE = "The file does not exist or is no longer kept"


class Fake:
    """Everything the fake knows; the web layer only translates HTTP to these calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        sender: Sender | None = None,
        fetcher: Fetcher = http_fetch,
    ) -> None:
        self.settings = settings
        self.clock = clock if clock is not None else make_clock(settings.clock)
        self.store = TaskStore()
        self.accounts = Accounts(settings.api_keys, settings.credits)
        self.limiter = RateLimiter(settings.rate_limit)
        self.rules = RuleBook()
        self.requests: Journal[RequestEntry] = Journal(settings.journal_size)
        self.callbacks: Journal[CallbackAttempt] = Journal(settings.journal_size)
        self.files = Files(
            settings.base_url, f"ideogram-mock:{settings.seed}", settings.image_format
        )
        self.fetcher = fetcher
        self.dispatcher = CallbackDispatcher(
            self.clock,
            self.callback_body,
            self.callbacks,
            hmac_key=settings.webhook_hmac_key,
            retries=settings.callback_retries,
            backoff_s=settings.callback_backoff_s,
            timeout_s=settings.callback_timeout_s,
            hosts=settings.callback_hosts,
            sender=sender,
        )
        self._ids = random.Random(settings.seed)
        self._jitter = random.Random(settings.seed + 1)
        self._result_ttl_ms = round(settings.result_ttl_s * 1000)
        self._record_delay_ms = round(settings.record_delay_s * 1000)

    def reset(self, rewind_clock: bool = False) -> None:
        """Forget tasks, journals, rules, credits and rate-limit windows; the clock stays unless
        `rewind_clock` (a manual clock goes back to its start, for test isolation)."""
        rewind = getattr(self.clock, "rewind", None)
        if rewind_clock and rewind is not None:
            rewind()
        self.store.clear()
        self.accounts.reset()
        self.limiter.reset()
        self.rules.reset()
        self.requests.clear()
        self.callbacks.clear()
        self.dispatcher.reset()
        self._ids = random.Random(self.settings.seed)
        self._jitter = random.Random(self.settings.seed + 1)

    # ---- the upstream API -----------------------------------------------------------------
    async def gate(
        self,
        endpoint: str,
        api_key: str | None,
        model: str | None = None,
        prompt: str | None = None,
    ) -> str | None:
        """Maintenance and scripted request faults, before anything else; returns the fault."""
        if self.rules.maintenance:
            raise ApiError(455)
        rule = self.rules.take_fault(endpoint, api_key, model, prompt)
        if rule is None:
            return None
        if rule.kind == "code":
            raise ApiError(rule.code or 500, rule.msg)
        if rule.kind == "drop":
            raise ConnectionDropped(rule.id)
        if rule.kind == "gateway":
            raise GatewayFailure(rule.id)
        delay = rule.latency_ms + self._jitter.uniform(0, rule.jitter_ms)
        await anyio.sleep(delay / 1000)
        return f"{rule.id}:latency"

    def authenticate(self, api_key: str | None) -> Account:
        return self.accounts.authenticate(api_key)

    def admit_create(self, account: Account) -> None:
        """The per-key createTask rate limit (429 beyond it)."""
        self.limiter.hit(account.api_key, self.clock.now_ms())

    def _new_id(self) -> str:
        while True:
            task_id = f"{self._ids.getrandbits(128):032x}"
            if self.store.get(task_id) is None:
                return task_id

    def _known_size(self, url: str) -> tuple[int, int] | None:
        ref = self.files.parse(url)
        task = self.store.get(ref.task_id) if ref else None
        return task.size if task else None

    async def create_task(self, account: Account, body: dict[str, Any]) -> Task:
        """A new task from a schema-valid createTask body; raises 402 when credits are short."""
        now = self.clock.now_ms()
        model: str = body["model"]
        inp: dict[str, Any] = body["input"]
        prompt: str = inp["prompt"]
        triggers = triggers_in(prompt)
        if triggers.code is not None:
            raise ApiError(triggers.code)
        speed = inp.get("rendering_speed", "BALANCED")
        count = int(inp.get("num_images", "1"))
        cost = CREDITS_PER_IMAGE[speed] * count
        if account.balance(now) < cost:
            raise ApiError(402)

        failure: Failure | None = triggers.failure
        total_s = triggers.seconds
        rule_id = None
        if failure is None:
            rule = self.rules.take_outcome(account.api_key, model, prompt)
            if rule is not None:
                failure, rule_id = rule.failure, rule.id
                total_s = rule.duration_s if rule.duration_s is not None else total_s

        size = IMAGE_SIZES.get(inp.get("image_size", ""), DEFAULT_SIZE)
        if "image_url" in inp and "image_size" not in inp:
            size = self._known_size(inp["image_url"]) or size
        if self.settings.fetch_inputs:
            verdict = await check_inputs(inp, self._fetch)
            if not verdict.ok and failure is None:
                failure = Failure("422", MEDIA_UNAVAILABLE)
            if verdict.edit_size and "image_size" not in inp:
                size = verdict.edit_size
            now = self.clock.now_ms()

        phases = timeline(
            speed, count, self.settings.time_scale, fails=failure is not None, total_s=total_s
        )
        task_id = self._new_id()
        seed = inp.get("seed")
        image_key = images.key_of(
            *(("seed", seed, model, prompt) if seed is not None else (self.settings.seed, task_id))
        )
        complete = now + phases.complete
        account.charge(cost, now, refund_at=complete if failure is not None else None)
        callback_url = body.get("callBackUrl") or None
        task = Task(
            task_id=task_id,
            api_key=account.api_key,
            model=model,
            param=orjson.dumps(body).decode(),
            callback_url=callback_url,
            created_ms=now,
            queuing_ms=now + phases.queuing,
            generating_ms=now + phases.generating,
            complete_ms=complete,
            num_images=count,
            size=size,
            image_key=image_key,
            credits=cost,
            failure=failure,
            rule_id=rule_id,
        )
        self.store.add(task)
        if callback_url:
            self.dispatcher.schedule(task_id, callback_url, complete)
        return task

    async def _fetch(self, url: str, limit: int) -> bytes | None:
        ref = self.files.parse(url)
        if ref is not None:
            task = self.store.get(ref.task_id)
            ended = task is not None and self.clock.now_ms() >= task.complete_ms
            if task is None or not ended or task.failure or ref.index >= task.num_images:
                return None
            return self.files.render(task, ref.index)
        return await self.fetcher(url, limit)

    def _owned(self, account: Account, task_id: str) -> Task:
        task = self.store.get(task_id)
        now = self.clock.now_ms()
        if (
            task is None
            or task.api_key != account.api_key
            or now < task.created_ms + self._record_delay_ms
        ):
            if self.settings.unknown_task == "docs":
                raise ApiError(404, TASK_NOT_FOUND)
            raise ApiError(422, RECORD_IS_NULL)
        return task

    def result_urls(self, task: Task) -> list[str]:
        """A finished task's result URLs (signed; the same every time they are read)."""
        if task.failure is not None or self.clock.now_ms() < task.complete_ms:
            return []
        return self.files.result_urls(task, self._result_ttl_ms)

    def record(self, account: Account, task_id: str) -> dict[str, Any]:
        """recordInfo's `data` for a task of this account; 422 "recordInfo is null" otherwise."""
        task = self._owned(account, task_id)
        return records.record(task, self.clock.now_ms(), self.result_urls(task))

    def credit(self, account: Account) -> int:
        return account.balance(self.clock.now_ms())

    def download_url(self, account: Account, url: str) -> str:
        """A 20-minute link for a result file of this account's task."""
        ref = self.files.parse(url)
        if ref is None:
            raise ApiError(422, NOT_A_FILE_URL)
        task = self.store.get(ref.task_id)
        now = self.clock.now_ms()
        kept_until = task.complete_ms + round(self.settings.retention_s * 1000) if task else 0
        if (
            task is None
            or task.api_key != account.api_key
            or state_at(task, now) is not TaskState.SUCCESS
            or ref.index >= task.num_images
            or ref.ext != self.files.ext
            or now > kept_until
        ):
            raise ApiError(422, FILE_GONE)
        return self.files.url(
            task.task_id, ref.index, now + round(self.settings.download_ttl_s * 1000)
        )

    def callback_body(self, task_id: str) -> dict[str, Any] | None:
        task = self.store.get(task_id)
        if task is None:
            return None
        return records.callback_body(task, self.result_urls(task))

    # ---- files ------------------------------------------------------------------------------
    def file(self, task_id: str, name: str, query: str) -> bytes:
        """The bytes behind a file URL; 404 unknown, 403 bad signature, 410 expired."""
        ref = self.files.ref(task_id, name, query)
        task = self.store.get(task_id)
        now = self.clock.now_ms()
        if (
            ref is None
            or task is None
            or state_at(task, now) is not TaskState.SUCCESS
            or ref.index >= task.num_images
            or ref.ext != self.files.ext
        ):
            raise ControlError(404, "no such file")
        if not self.files.signature_ok(ref):
            raise ControlError(403, "the link's signature does not match")
        if ref.expires is not None and now // 1000 > ref.expires:
            raise ControlError(410, "the link has expired")
        return self.files.render(task, ref.index)

    # ---- control ----------------------------------------------------------------------------
    async def advance(self, seconds: float) -> int:
        """Move the clock; with a manual clock, step through due callbacks so each is on time."""
        target = self.clock.now_ms() + round(seconds * 1000)
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

    def task(self, task_id: str) -> Task:
        task = self.store.get(task_id)
        if task is None:
            raise ControlError(404, f"no task {task_id}", "taskId")
        return task

    async def finish(self, task_id: str) -> Task:
        """Advance the clock to the moment the task ends (nothing if it has)."""
        task = self.task(task_id)
        await self.advance(max(0, task.complete_ms - self.clock.now_ms()) / 1000)
        return task

    def task_view(self, task: Task) -> dict[str, Any]:
        now = self.clock.now_ms()
        failure = task.failure
        return {
            "taskId": task.task_id,
            "apiKey": task.api_key,
            "model": task.model,
            "state": state_at(task, now).value,
            "createTime": task.created_ms,
            "queuingAt": task.queuing_ms,
            "generatingAt": task.generating_ms,
            "completeAt": task.complete_ms,
            "outcome": {
                "state": "fail" if failure else "success",
                "failCode": failure.code if failure else None,
                "failMsg": failure.msg if failure else None,
                "rule": task.rule_id,
            },
            "numImages": task.num_images,
            "width": task.size[0],
            "height": task.size[1],
            "callBackUrl": task.callback_url,
            "resultUrls": self.result_urls(task),
            "creditsCharged": task.credits,
            "input": orjson.loads(task.param)["input"],
        }
