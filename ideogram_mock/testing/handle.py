"""The public test handle: what a test can do with the fake, the same for the in-process
(`kie_mock`) and live-server (`kie_server`) fixtures."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from ideogram_mock.core.engine import Fake
from ideogram_mock.core.errors import DomainError
from ideogram_mock.providers import PROVIDERS
from ideogram_mock.server.control import task_view
from ideogram_mock.server.spec import CONTROL, load_spec
from ideogram_mock.testing.views import CallbackRecord, RequestRecord, RuleView, TaskView

T = TypeVar("T")
DEFAULT_KEY = "test-key"


class HandleError(ValueError):
    """A handle call the fake refused: a rule it cannot use, a task it does not know, an
    unknown match field. The handle's one error type."""


class Handle(abc.ABC):
    """What a test can do with the fake: drive its clock, script outcomes and faults, and look
    at its tasks, requests and callbacks. The same for every provider's fixtures, in-process
    (`kie_mock`, `segmind_mock`, `scenario_mock`) and live (`kie_server`, `segmind_server`,
    `scenario_server`); `provider` only decides `headers()`. Its key is `test-key` (`api_key`)
    unless a call names another."""

    api_key = DEFAULT_KEY

    def __init__(self, fake: Fake, base_url: str, provider: str = "kie") -> None:
        self.fake = fake
        self.base_url = base_url
        self.provider = provider

    @abc.abstractmethod
    def _do(self, fn: Callable[[], T]) -> T:
        """Run a function where the fake lives and return its result."""

    @abc.abstractmethod
    def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run an async function where the fake lives and return its result."""

    def headers(self, api_key: str | None = None) -> dict[str, str]:
        """The provider's auth header for the default (or a given) key: kie's
        `Authorization: Bearer <key>`, Segmind's `x-api-key: <key>`, Scenario's
        `Authorization: Basic base64(<key>:test-secret)`."""
        return PROVIDERS[self.provider].auth(api_key or self.api_key)

    # ---- time ---------------------------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move the fake clock; callbacks that fall due are sent first. Returns attempts made."""
        with _refusals():
            return self._run(lambda: self.fake.advance(seconds))

    def finish(self, task_id: str) -> TaskView:
        """Run a task to its end (success or fail) and return how the fake sees it."""
        return self._run(lambda: self._finish(task_id))

    async def _finish(self, task_id: str) -> TaskView:
        with _refusals():
            return _view(self.fake, await self.fake.finish(task_id))

    def now_ms(self) -> int:
        return self.fake.clock.now_ms()

    # ---- outcomes and faults ------------------------------------------------------------------
    def add_rule(self, rule: dict[str, Any]) -> RuleView:
        """Add a rule with the body of `POST /_mock/faults` (checked by the same spec)."""
        body = load_spec(CONTROL).operations["mockAddFault"].body
        assert body is not None
        rejection = body.reject(rule)
        if rejection is not None:
            raise HandleError(rejection.msg)
        with _refusals():
            return self._do(lambda: cast(RuleView, self.fake.rules.add(rule).as_json()))

    def fail_next(
        self,
        times: int | None = 1,
        fail_code: str = "500",
        fail_msg: str | None = None,
        **match: str,
    ) -> RuleView:
        """The next `times` matching tasks fail (then the default success resumes)."""
        rule: dict[str, Any] = {"outcome": "fail", "failCode": fail_code, "times": times}
        if fail_msg is not None:
            rule["failMsg"] = fail_msg
        return self.add_rule({**rule, **_match(match)})

    def fault(
        self,
        endpoint: str = "*",
        code: int | None = None,
        *,
        kind: str = "code",
        times: int | None = 1,
        msg: str | None = None,
        latency_ms: float | None = None,
        jitter_ms: float | None = None,
        **match: str,
    ) -> RuleView:
        """A request fault: an envelope `code`, `latency`, a `drop`ped connection or a `gateway`."""
        rule: dict[str, Any] = {"endpoint": endpoint, "kind": kind, "times": times}
        for key, value in (
            ("code", code),
            ("msg", msg),
            ("latencyMs", latency_ms),
            ("jitterMs", jitter_ms),
        ):
            if value is not None:
                rule[key] = value
        return self.add_rule({**rule, **_match(match)})

    def clear_faults(self) -> int:
        return self._do(self.fake.rules.clear)

    def maintenance(self, enabled: bool = True) -> None:
        def switch() -> None:
            self.fake.rules.maintenance = enabled

        self._do(switch)

    # ---- accounts -----------------------------------------------------------------------------
    def set_credits(self, credits: int, api_key: str | None = None) -> None:
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
            raise HandleError(f"credits must be a whole number ≥ 0, not {credits!r}")
        self._do(lambda: self.fake.accounts.put(api_key or self.api_key, credits))

    def credits(self, api_key: str | None = None) -> int:
        with _refusals():
            return self._do(
                lambda: self.fake.credit(self.fake.authenticate(api_key or self.api_key))
            )

    # ---- what happened ------------------------------------------------------------------------
    @property
    def tasks(self) -> list[TaskView]:
        """Every task, oldest first, as the control API shows them."""
        return self._do(lambda: [_view(self.fake, t) for t in self.fake.served()])

    def task(self, task_id: str) -> TaskView:
        with _refusals():
            return self._do(lambda: _view(self.fake, self.fake.task(task_id)))

    @property
    def requests(self) -> list[RequestRecord]:
        """The request journal: operationId, apiKey, status, code, taskId, fault per request."""
        return self._do(lambda: [cast(RequestRecord, e._asdict()) for e in self.fake.requests])

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every callback attempt (url, attempt, status, ok, error, headers, body)."""
        return self._do(lambda: [cast(CallbackRecord, a._asdict()) for a in self.fake.callbacks])

    def reset(self) -> None:
        """A fresh fake: no tasks, rules or journals; a manual clock back at its start."""
        self._do(lambda: self.fake.reset(rewind_clock=True))


@contextmanager
def _refusals() -> Iterator[None]:
    """The core's refusals, as the handle's own error."""
    try:
        yield
    except DomainError as exc:
        raise HandleError(str(exc)) from None


def _view(fake: Fake, task: Any) -> TaskView:
    return cast(TaskView, task_view(fake, task))


def _match(match: dict[str, str]) -> dict[str, str]:
    names = {
        "api_key": "apiKey",
        "model": "model",
        "prompt_contains": "promptContains",
        "provider": "provider",
    }
    unknown = set(match) - set(names)
    if unknown:
        raise HandleError(f"unknown match field(s) {sorted(unknown)}; use {sorted(names)}")
    return {names[k]: v for k, v in match.items()}


# The name the kie fixtures' docs use.
KieHandle = Handle
