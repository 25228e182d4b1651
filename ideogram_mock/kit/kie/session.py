"""One run of the kit: its target, the one client every check goes through, and what it saw."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from ideogram_mock.kit.cases import describe
from ideogram_mock.kit.config import KitConfig
from ideogram_mock.kit.conformance import Conformance
from ideogram_mock.kit.findings import ADDITIVE, BREAKING, Differ, Finding, Findings
from ideogram_mock.kit.kie.data import FAKE_RULES
from ideogram_mock.kit.target import Target
from ideogram_mock.server.spec import UPSTREAM, load_spec

# How long a new task may read "recordInfo is null" before the kit calls it forgotten.
RECORD_GRACE_S = 30.0
ORDER = {"waiting": 0, "queuing": 1, "generating": 2, "success": 3, "fail": 3}
TERMINAL = ("success", "fail")
STABLE = ("state", "createTime", "completeTime", "costTime", "failCode", "failMsg", "param")
ERROR_CODES = frozenset(load_spec().document["components"]["schemas"]["ErrorCode"]["enum"])
OPERATIONS = {
    ("POST", "/api/v1/jobs/createTask"): "createTask",
    ("GET", "/api/v1/jobs/recordInfo"): "getTaskRecord",
    ("GET", "/api/v1/chat/credit"): "getCredit",
    ("POST", "/api/v1/common/download-url"): "getDownloadUrl",
}


class BudgetExhausted(Exception):
    """The run may create no more tasks (live budget, or read-only mode)."""


class Receiver(Protocol):
    url: str

    def received(self) -> list[tuple[dict[str, str], bytes]]: ...


@dataclass
class Tracker:
    """What the run created and saw of each task, to check how records move."""

    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, record: dict[str, Any], where: str, request: str) -> list[Finding]:
        """Findings about one recordInfo `data`: its own consistency and its history."""
        out: list[Finding] = []

        def breaking(category: str, message: str) -> None:
            out.append(Finding(BREAKING, category, where, message, request))

        task_id, state = record.get("taskId"), record.get("state")
        if not isinstance(task_id, str) or state not in ORDER:
            return out  # the schema diff names these
        failed = state == "fail"
        for name in ("failCode", "failMsg"):
            value = record.get(name)
            if failed and not (isinstance(value, str) and value):
                breaking("fail-fields", f"{name} is {value!r} on a failed task")
            if not failed and value not in (None, ""):
                breaking("fail-fields", f"{name} is {value!r} on a {state} task")
        out.extend(self._results(record, where, request))
        out.extend(self._times(record, where, request))
        with self.lock:
            created = self.created.get(task_id)
            before = self.seen.get(task_id)
            self.seen[task_id] = record
        if created is not None:
            out.extend(self._param(record, created, where, request))
        if before is not None:
            if ORDER[state] < ORDER[before["state"]]:
                breaking("state-backwards", f"{task_id}: {before['state']} → {state}")
            if before["state"] in TERMINAL:
                changed = [k for k in STABLE if record.get(k) != before.get(k)]
                if changed:
                    breaking("terminal-changed", f"{task_id}: {', '.join(changed)} changed")
        return out

    def _results(self, record: dict[str, Any], where: str, request: str) -> list[Finding]:
        if record["state"] != "success":
            return []
        try:
            urls = json.loads(record.get("resultJson") or "")["resultUrls"]
            param = json.loads(record.get("param") or "{}")
        except (ValueError, KeyError, TypeError) as exc:
            return [
                Finding(BREAKING, "result-json", where, f"resultJson unreadable: {exc}", request)
            ]
        inp = param.get("input", {})
        if isinstance(inp, str):
            inp = json.loads(inp)
        wanted = int(inp.get("num_images", "1"))
        if not isinstance(urls, list) or len(urls) != wanted:
            count = len(urls) if isinstance(urls, list) else urls
            message = f"{count} result URLs for num_images {wanted}"
            return [Finding(BREAKING, "result-count", where, message, request)]
        return []

    def _times(self, record: dict[str, Any], where: str, request: str) -> list[Finding]:
        out = []
        created, updated = record.get("createTime"), record.get("updateTime")
        completed, cost = record.get("completeTime"), record.get("costTime")
        if isinstance(created, int) and isinstance(updated, int) and updated < created:
            out.append(Finding(BREAKING, "timestamps", where, "updateTime < createTime", request))
        if record["state"] in TERMINAL and isinstance(created, int) and isinstance(completed, int):
            if completed < created:
                out.append(
                    Finding(BREAKING, "timestamps", where, "completeTime < createTime", request)
                )
            elif isinstance(cost, int | float):
                seconds = (completed - created) / 1000
                if abs(cost - seconds) > max(2.0, seconds * 0.2):
                    unit = "ms" if abs(cost - seconds * 1000) <= max(2000, seconds * 200) else "?"
                    message = f"costTime {cost} for {seconds:.1f} s between create and complete"
                    message += " (milliseconds, as the docs say?)" if unit == "ms" else ""
                    out.append(Finding(BREAKING, "cost-time", where, message, request))
        return out

    def _param(
        self, record: dict[str, Any], created: dict[str, Any], where: str, request: str
    ) -> list[Finding]:
        try:
            param = json.loads(record.get("param") or "")
        except ValueError:
            return [Finding(BREAKING, "param", where, "param is not JSON", request)]
        out = []
        if isinstance(param.get("input"), str):
            param["input"] = json.loads(param["input"])
            message = "param.input is a JSON string inside the JSON string"
            out.append(Finding(ADDITIVE, "param-encoding", where, message, request))
        if param != created:
            out.append(
                Finding(BREAKING, "param", where, "param does not round-trip the request", request)
            )
        return out


class KitSession:
    """The target and everything the run learned; one per process (see `session()`)."""

    def __init__(self, config: KitConfig) -> None:
        self.config = config
        self.spec = load_spec(UPSTREAM)
        self.conformance = Conformance()
        self.differ = Differ(self.spec)
        self.findings = Findings()
        self.tracker = Tracker()
        self.tasks_created = 0
        self.observed_conventions: set[str] = set()
        self.record_delays: list[float] = []  # seconds a new task read "recordInfo is null"
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        self.mock: Any = None
        if config.mode == "inprocess":
            from ideogram_mock.settings import Settings
            from ideogram_mock.testing.inprocess import KieMock

            self.mock = KieMock(
                Settings(
                    clock="manual",
                    rate_limit=None,
                    credits=10**12,
                    webhook_hmac_key=config.hmac_key,
                )
            )
            self.mock.start()
            self._closers.append(self.mock.close)
        self.client = httpx.Client(base_url=config.base_url, timeout=30, trust_env=False)
        self._closers.append(self.client.close)
        self.target = Target(self.client, config, self.mock)
        self._closers.append(self.target.clean_up)
        self.control = self.target.control
        if self.target.shared and not self.target.manual:
            # A real clock the kit must not move: its own tasks take 1 s instead of ~20.
            self.target.add_rule("kie", {"outcome": "success", "durationSeconds": 1, "times": None})
        self._receiver: Receiver | None = None

    # ---- the one way requests are made -------------------------------------------------------
    def headers(self, api_key: str | None = "default") -> dict[str, str]:
        key = self.config.api_key if api_key == "default" else api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def send(self, request: httpx.Request, check: bool = True) -> httpx.Response:
        """Send one request (throttled, rate-limit aware, within the task budget) and check
        the answer against the spec; what differs goes into the findings."""
        op = OPERATIONS.get((request.method, request.url.path))
        if op == "createTask":
            self._may_spend(request)
        for attempt in range(6):
            self.target.pace()
            response = self.client.send(request)
            if not self._rate_limited(response) or attempt == 5:
                break
            if self.target.moves_clock:  # the fake's rate windows run on its clock
                self.target.advance(10)
            else:
                time.sleep(min(10.0, 1.0 * 2**attempt))
        if check and op is not None:
            self.findings.extend(self.check(op, response))
        if op == "createTask" and self._envelope_code(response) == 200:
            with self._lock:
                self.tasks_created += 1
            data = response.json().get("data") or {}
            with self.tracker.lock:
                self.tracker.created[str(data.get("taskId"))] = json.loads(request.content)
        return response

    def request(
        self, method: str, path: str, api_key: str | None = "default", **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.headers(api_key), **kwargs.pop("headers", {})}
        return self.send(self.client.build_request(method, path, headers=headers, **kwargs))

    def _may_spend(self, request: httpx.Request) -> None:
        """Refuse to send a createTask that could spend beyond the budget. It cannot spend
        without one of the run's keys; read-only mode still sends bodies the spec refuses on
        a documented rule (validation errors). Only accepted tasks count against the budget."""
        keys = {f"Bearer {k}" for k in (self.config.api_key, self.config.other_api_key) if k}
        if request.headers.get("authorization") not in keys:
            return
        with self._lock:
            if self.config.read_only:
                if self._surely_refused(request):
                    return
                raise BudgetExhausted("read-only mode: no task may be created")
            limit = self.config.max_tasks
            if limit is not None and self.tasks_created >= limit:
                raise BudgetExhausted(f"the task budget ({limit}) is spent")

    def _surely_refused(self, request: httpx.Request) -> bool:
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return True  # not JSON: refused before any model runs
        spec_body = self.spec.operations["createTask"].body
        assert spec_body is not None
        rejection = spec_body.reject(body)
        return rejection is not None and rejection.rule not in FAKE_RULES

    def _rate_limited(self, response: httpx.Response) -> bool:
        return response.status_code == 429 or self._envelope_code(response) == 429

    @staticmethod
    def _envelope_code(response: httpx.Response) -> int | None:
        try:
            body = response.json()
        except ValueError:
            return None
        code = body.get("code") if isinstance(body, dict) else None
        return code if isinstance(code, int) else None

    # ---- checks on every answer --------------------------------------------------------------
    @property
    def expected_convention(self) -> str:
        return "envelope" if self.config.convention == "auto" else self.config.convention

    def check(self, op: str, response: httpx.Response) -> list[Finding]:
        """Envelope, HTTP-status convention and schema differences of one answer."""
        request = describe(response.request)
        where = op
        ctype = response.headers.get("content-type", "").split(";")[0].strip()
        if response.status_code == 502 and ctype == "text/html":
            return []  # a gateway's page: documented, not the service's answer
        try:
            body = response.json()
        except ValueError:
            message = f"HTTP {response.status_code} {ctype or 'no content type'}, not JSON"
            return [Finding(BREAKING, "not-json", where, message, request)]
        out: list[Finding] = []
        if not isinstance(body, dict):
            return [Finding(BREAKING, "envelope", where, "the body is not an object", request)]
        code = body.get("code")
        if isinstance(code, int) and code != 200:
            style = (
                "envelope"
                if response.status_code == 200
                else ("mirror" if response.status_code == code else "other")
            )
            self.observed_conventions.add(style)
            if style != self.expected_convention:
                message = (
                    f"an error (code {code}) came with HTTP {response.status_code}; the expected "
                    f"convention is {self.expected_convention}"
                    + (
                        " (HTTP 200, error in code)"
                        if self.expected_convention == "envelope"
                        else ""
                    )
                )
                out.append(Finding(BREAKING, "http-status-convention", where, message, request))
            if code not in ERROR_CODES:
                out.append(
                    Finding(
                        BREAKING, "new-value", f"{where} code", f"new envelope code {code}", request
                    )
                )
        node = self._response_schema(op, str(response.status_code))
        if node is not None:
            out.extend(self.differ.diff(node, body, where, request))
        if op == "getTaskRecord" and code == 200 and isinstance(body.get("data"), dict):
            out.extend(self.tracker.observe(body["data"], where, request))
        return out

    def _response_schema(self, op: str, status: str) -> Any:
        """The JSON schema of an operation's answer with this status (else its 200's)."""
        operation = self.spec.operations[op]
        raw = self.spec.document["paths"][operation.path][operation.method.lower()]["responses"]
        response = self.spec.resolve(raw.get(status) or raw["200"])
        content = response.get("content", {}).get("application/json")
        return None if content is None else content["schema"]

    # ---- tasks -------------------------------------------------------------------------------
    def record(self, task_id: str, api_key: str | None = "default") -> httpx.Response:
        return self.request("GET", "/api/v1/jobs/recordInfo", api_key, params={"taskId": task_id})

    def run_to_end(self, task_id: str) -> dict[str, Any]:
        """Poll the task until it ends (moving the fake's clock when the target has one). A
        new task that reads "recordInfo is null" for a while is kie's record delay (seen live),
        recorded; one that stays null past RECORD_GRACE_S is a forgotten task."""
        deadline = time.monotonic() + self.config.lifecycle_timeout_s
        response = self.readable(task_id)
        while True:
            answer = response.json()
            data = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(data, dict):
                message = f"task {task_id} was created but reads as {answer}"
                self.findings.add(
                    Finding(
                        BREAKING,
                        "forgotten-task",
                        "getTaskRecord",
                        message,
                        describe(response.request),
                    )
                )
                raise AssertionError(message)
            state = data.get("state")
            if state not in ORDER:  # the schema diff has named it; waiting cannot help
                raise AssertionError(f"task {task_id} is in an unknown state {state!r}")
            if state in TERMINAL:
                return data
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {state} after the time budget")
            self.target.advance(2)
            response = self.record(task_id)

    def readable(self, task_id: str, api_key: str | None = "default") -> httpx.Response:
        """The first record of a new task: kie reads "recordInfo is null" for a moment after
        createTask (seen live), so wait through that (recorded as the record delay), up to
        RECORD_GRACE_S; the last answer either way."""
        started, waited = time.monotonic(), 0.0
        while True:
            response = self.record(task_id, api_key)
            try:
                answer = response.json()
            except ValueError:
                return response
            if isinstance(answer, dict) and isinstance(answer.get("data"), dict):
                if waited:
                    with self._lock:
                        self.record_delays.append(waited)
                return response
            if waited >= RECORD_GRACE_S:
                return response
            self.target.advance(1)
            waited = 1 + waited if self.target.moves_clock else time.monotonic() - started

    # ---- callbacks ---------------------------------------------------------------------------
    def receiver(self) -> Receiver | None:
        """The kit's own callback receiver, or None when the target cannot reach one."""
        if self._receiver is None:
            if self.mock is not None:
                self._receiver = _RespxReceiver(self.mock)
            elif self.config.live and not self.config.callback_public_url:
                return None
            else:
                self._receiver = _HttpReceiver(self.config)
                self._closers.append(self._receiver.close)
        return self._receiver

    def advance(self, seconds: float) -> None:
        self.target.advance(seconds)

    def notes(self) -> list[str]:
        """What the run observed about the target, for the terminal and the drift report."""
        seen = ", ".join(sorted(self.observed_conventions)) or "no errors seen"
        delays = self.record_delays
        delay = (
            f'record delay: new tasks read "recordInfo is null" for up to {max(delays):g} s '
            f"({len(delays)} of {self.tasks_created} tasks)"
            if delays
            else "record delay: none seen (every new task was readable at once)"
        )
        return [
            f"HTTP status convention expected {self.expected_convention}; observed: {seen}",
            delay,
            self.target.summary(),
        ]

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


class _RespxReceiver:
    """In-process: the callback URL is routed (respx) to a recorder; no socket."""

    url = "https://contract-kit.receiver.test/callback"

    def __init__(self, mock: Any) -> None:
        self._got: list[tuple[dict[str, str], bytes]] = []

        def record(request: httpx.Request) -> httpx.Response:
            self._got.append((dict(request.headers), request.content))
            return httpx.Response(200, json={"code": 200, "msg": "success"})

        mock.router.post(self.url).mock(side_effect=record)

    def received(self) -> list[tuple[dict[str, str], bytes]]:
        return list(self._got)


class _HttpReceiver:
    """Over HTTP: a real receiver (loopback; live: where CALLBACK_PUBLIC_URL points)."""

    def __init__(self, config: KitConfig) -> None:
        from ideogram_mock.testing.receiver import CallbackReceiver

        host = "0.0.0.0" if config.callback_public_url else "127.0.0.1"
        self._receiver = CallbackReceiver(host=host, port=config.callback_port)
        self.url = config.callback_public_url or self._receiver.url

    def received(self) -> list[tuple[dict[str, str], bytes]]:
        return [(r.headers, r.body) for r in self._receiver.received]

    def close(self) -> None:
        self._receiver.close()


@functools.cache
def session() -> KitSession:
    """The run's session, made from the environment on first use."""
    return KitSession(KitConfig.from_env())
