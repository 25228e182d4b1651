"""What every provider's kit session shares (kie's predates it and keeps its own): the target,
the one client every check goes through, a live budget, throttling, 429 waits, the fake's
control API when there is one, and the findings."""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from schemathesis import Case
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response

from ideogram_mock.kit.cases import describe, to_request
from ideogram_mock.kit.config import KitConfig
from ideogram_mock.kit.findings import BREAKING, Differ, Finding, Findings
from ideogram_mock.kit.target import Target
from ideogram_mock.server.spec import load_spec

T = TypeVar("T")


class BudgetExhausted(Exception):
    """The run may create no more tasks (live budget, or read-only mode)."""


class ProviderKit(abc.ABC):
    """The target and everything the run learned; one per process."""

    provider: str
    spec_name: str
    spending: tuple[str, ...]  # operations that create (and pay for) a task
    order: dict[str, int]  # the provider's statuses, in lifecycle order
    terminal: tuple[str, ...]

    def __init__(self, config: KitConfig) -> None:
        self.config = config
        self.spec = load_spec(self.spec_name)
        self.differ = Differ(self.spec)
        self.findings = Findings()
        self.tasks_created = 0
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        self.mock: Any = None
        if config.mode == "inprocess":
            from ideogram_mock.settings import Settings
            from ideogram_mock.testing.inprocess import KieMock

            settings = Settings(clock="manual", rate_limit=None, credits=10**12)
            self.mock = KieMock(settings, provider=self.provider)
            self.mock.start()
            self._closers.append(self.mock.close)
        self.client = httpx.Client(base_url=config.base_url, timeout=60, trust_env=False)
        self._closers.append(self.client.close)
        self.target = Target(self.client, config, self.mock)
        self._closers.append(self.target.clean_up)

    # ---- what each provider says -------------------------------------------------------------
    @abc.abstractmethod
    def headers(self, api_key: str | None = "default") -> dict[str, str]:
        """The provider's auth header for the run's key (or another, or none)."""

    @abc.abstractmethod
    def check(self, op: str, response: httpx.Response) -> list[Finding]:
        """What differs in one answer (schema and the provider's own rules)."""

    def surely_refused(self, request: httpx.Request, op: str) -> bool:
        """Whether the request is refused before anything is spent (read-only mode)."""
        return False

    def key_of(self, request: httpx.Request) -> str | None:
        """The run's key a request carries, if any (only those spend)."""
        sent = {k.lower(): v for k, v in request.headers.items()}
        for key in (self.config.api_key, self.config.other_api_key):
            if key and all(sent.get(n.lower()) == v for n, v in self.headers(key).items()):
                return key
        return None

    def retry_wait(self, response: httpx.Response, attempt: int) -> float:
        """Seconds to wait before resending a 429 to a real service."""
        return float(min(10.0, 2.0**attempt))

    # ---- the one way requests are made -------------------------------------------------------
    def operation(self, request: httpx.Request) -> str | None:
        op = self.spec.operation_for(request.method, request.url.path)
        return op.operation_id if op is not None else None

    def send(self, request: httpx.Request, check: bool = True) -> httpx.Response:
        """Send one request (throttled, rate-limit aware, within the budget) and check the
        answer; what differs goes into the findings."""
        op = self.operation(request)
        if op in self.spending:
            self._may_spend(request, op)
        for attempt in range(6):
            self.target.pace()
            response = self.client.send(request)
            if response.status_code != 429 or attempt == 5:
                break
            if self.target.moves_clock:  # the fake's rate windows run on its clock
                self.target.advance(10)
            else:
                time.sleep(self.retry_wait(response, attempt))
        if check and op is not None:
            self.findings.extend(self.check(op, response))
        if op in self.spending and response.status_code == 200:
            with self._lock:
                self.tasks_created += 1
        return response

    def request(
        self, method: str, url: str, api_key: str | None = "default", **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.headers(api_key), **kwargs.pop("headers", {})}
        return self.send(self.client.build_request(method, url, headers=headers, **kwargs))

    def _may_spend(self, request: httpx.Request, op: str) -> None:
        if self.key_of(request) is None:
            return
        with self._lock:
            if self.config.read_only:
                if self.surely_refused(request, op):
                    return
                raise BudgetExhausted("read-only mode: nothing may be generated")
            limit = self.config.max_tasks
            if limit is not None and self.tasks_created >= limit:
                raise BudgetExhausted(f"the budget ({limit} generations) is spent")

    def schema_diff(self, op: str, status: str, body: Any, request: str) -> list[Finding]:
        """The body against the JSON schema of the operation's answer with this status (its
        `default`, else its 200, when the status is not documented)."""
        operation = self.spec.operations[op]
        raw = self.spec.document["paths"][operation.path][operation.method.lower()]["responses"]
        key = status if status in raw else ("default" if int(status) >= 400 else "200")
        response = self.spec.resolve(raw.get(key) or raw["200"])
        content = response.get("content", {}).get("application/json")
        if content is None:
            return []
        return self.differ.diff(content["schema"], body, op, request)

    def run_case(self, case: Case[Any], excluded: list[Any]) -> None:
        """One schemathesis case through the kit's client: the kit's checks and schemathesis's
        (but `excluded`), findings recorded, and a failure on any breaking one."""
        try:
            request = to_request(self, case)
        except (httpx.HTTPError, ValueError, TypeError, UnicodeError):
            return  # a generated request no HTTP client can send (a header with a newline)
        response = self.send(request, check=False)
        op = self.operation(request)
        found = self.check(op, response) if op is not None else []
        self.findings.extend(found)
        seen = Response.from_httpx(response, verify=True)
        try:
            case.validate_response(seen, excluded_checks=excluded)
        except FailureGroup as group:
            for failure in group.exceptions:
                title = getattr(failure, "title", type(failure).__name__)
                first = str(failure).splitlines()[0] if str(failure) else title
                where = op or f"{request.method} {request.url.path}"
                finding = Finding(BREAKING, f"check: {title}", where, first, describe(request))
                self.findings.add(finding)
            raise
        breaking = [f for f in found if f.severity == BREAKING]
        assert not breaking, "; ".join(f"{f.where}: {f.message}" for f in breaking)

    # ---- the target --------------------------------------------------------------------------
    def add_rule(self, rule: dict[str, Any]) -> None:
        """A rule on a shared fake, scoped to the run's key; removed at the end."""
        self.target.add_rule(self.provider, rule)

    def advance(self, seconds: float) -> None:
        self.target.advance(seconds)

    def poll(
        self, read: Callable[[], T], status_of: Callable[[T], Any], what: str, step_s: float
    ) -> T:
        """Read until the status (of `order`) is terminal or unknown, letting `step_s` pass
        between reads, within the lifecycle budget; the last read."""
        deadline = time.monotonic() + self.config.lifecycle_timeout_s
        while True:
            value = read()
            status = status_of(value)
            if status in self.terminal or status not in self.order:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} still {status} after the time budget")
            self.advance(step_s)

    def notes(self) -> list[str]:
        """What the run observed about the target, for the terminal and the drift report."""
        return [self.target.summary()]

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()
