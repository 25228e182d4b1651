"""One run of Segmind's kit: its target, the one client every check goes through, and what it
saw (schema differences, and Segmind's own rules: absolute URLs, FAILED as 422, `error`)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ideogram_mock.kit.cases import describe
from ideogram_mock.kit.config import KitConfig
from ideogram_mock.kit.findings import BREAKING, Differ, Finding, Findings
from ideogram_mock.server.spec import load_spec

SPEC = "segmind.yaml"
PROVIDER = "segmind"
ORDER = {"QUEUED": 0, "PROCESSING": 1, "COMPLETED": 2, "FAILED": 2}
TERMINAL = ("COMPLETED", "FAILED")
SPENDING = ("generate", "submit")
URL_FIELDS = ("poll_url", "status_url", "response_url")
# Segmind's own sample image (the model page's default reference): public, png.
LIVE_REFERENCE = (
    "https://segmind-resources.s3.amazonaws.com/output/"
    "9ad9b775-7b35-4485-affe-6215a933d825-686185927069985948.png"
)
FAKE_REFERENCE = "http://127.0.0.1:9/portrait.png"  # never fetched by the fake
# Kept at the natural duration even where the kit makes the fake's other requests instant.
LIFECYCLE_MARK = "[kit:lifecycle]"


class BudgetExhausted(Exception):
    """The run may create no more requests (live budget, or read-only mode)."""


class SegmindKit:
    """The target and everything the run learned; one per process (see `session()`)."""

    def __init__(self, config: KitConfig) -> None:
        self.config = config
        self.spec = load_spec(SPEC)
        self.differ = Differ(self.spec)
        self.findings = Findings()
        self.tasks_created = 0
        self.statuses: dict[str, str] = {}
        self._lock = threading.Lock()
        self._last = 0.0
        self._closers: list[Callable[[], None]] = []
        self.mock: Any = None
        if config.mode == "inprocess":
            from ideogram_mock.settings import Settings
            from ideogram_mock.testing.inprocess import SegmindMock

            self.mock = SegmindMock(Settings(clock="manual", rate_limit=None, credits=10**12))
            self.mock.start()
            self._closers.append(self.mock.close)
        self.client = httpx.Client(base_url=config.base_url, timeout=60, trust_env=False)
        self._closers.append(self.client.close)
        self.control = self._has_control_api()
        self._rules: list[str] = []
        if self.control and self.mock is None:
            self._quicken()

    # ---- the one way requests are made -------------------------------------------------------
    def headers(self, api_key: str | None = "default") -> dict[str, str]:
        key = self.config.api_key if api_key == "default" else api_key
        return {"x-api-key": key} if key else {}

    @property
    def reference(self) -> str:
        return LIVE_REFERENCE if self.config.live else FAKE_REFERENCE

    def body(self, **changes: Any) -> dict[str, Any]:
        """The model page's example request (its reference swapped for a local one unless
        the target is the real service)."""
        body: dict[str, Any] = {
            "prompt": "a close up photo of a woman in a fashion magazine photoshoot",
            "resolution": "512x1536",
            "style_type": "Realistic",
            "aspect_ratio": "16:9",
            "rendering_speed": "Turbo",
            "magic_prompt_option": "Off",
            "character_reference_image": self.reference,
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    def operation(self, request: httpx.Request) -> str | None:
        op = self.spec.operation_for(request.method, request.url.path)
        return op.operation_id if op is not None else None

    def send(self, request: httpx.Request, check: bool = True) -> httpx.Response:
        """Send one request (throttled, rate-limit aware, within the budget) and check the
        answer; what differs goes into the findings."""
        op = self.operation(request)
        if op in SPENDING:
            self._may_spend(request, op)
        for attempt in range(6):
            self._throttle()
            response = self.client.send(request)
            if response.status_code != 429 or attempt == 5:
                break
            self._wait_out(response, attempt)
        if check and op is not None:
            self.findings.extend(self.check(op, response))
        if op in SPENDING and response.status_code == 200:
            with self._lock:
                self.tasks_created += 1
        return response

    def request(
        self, method: str, url: str, api_key: str | None = "default", **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.headers(api_key), **kwargs.pop("headers", {})}
        return self.send(self.client.build_request(method, url, headers=headers, **kwargs))

    def _may_spend(self, request: httpx.Request, op: str) -> None:
        """Refuse to send a request that could spend beyond the budget: only requests with
        the run's keys spend; read-only mode sends only bodies the v1 call refuses."""
        keys = {k for k in (self.config.api_key, self.config.other_api_key) if k}
        if request.headers.get("x-api-key") not in keys:
            return
        with self._lock:
            if self.config.read_only:
                if op == "generate" and self._surely_refused(request):
                    return
                raise BudgetExhausted("read-only mode: no generation may be requested")
            limit = self.config.max_tasks
            if limit is not None and self.tasks_created >= limit:
                raise BudgetExhausted(f"the budget ({limit} requests) is spent")

    def _surely_refused(self, request: httpx.Request) -> bool:
        import json

        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return True
        spec_body = self.spec.operations["generate"].body
        assert spec_body is not None
        return spec_body.reject(body) is not None

    def _throttle(self) -> None:
        if self.config.min_interval_s <= 0:
            return
        with self._lock:
            wait = self._last + self.config.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def _wait_out(self, response: httpx.Response, attempt: int) -> None:
        """Wait for a 429's reset (moving the fake's clock when the target has one)."""
        if self.control:
            self.client.post("/_mock/clock/advance", json={"seconds": 10})
            return
        wait = min(10.0, 1.0 * 2**attempt)
        reset = response.headers.get("x-rate-limit-reset-at-utc")
        try:
            at = datetime.fromisoformat(reset.replace("Z", "+00:00")) if reset else None
        except ValueError:
            at = None
        if at is not None:
            wait = min(60.0, max(0.0, at.timestamp() - time.time()) + 0.1)
        time.sleep(wait)

    # ---- checks on every answer --------------------------------------------------------------
    def check(self, op: str, response: httpx.Response) -> list[Finding]:
        """Schema differences and Segmind's own rules for one answer."""
        request = describe(response.request)
        status = response.status_code
        ctype = response.headers.get("content-type", "").split(";")[0].strip()
        if status == 502 and ctype == "text/html":
            return []  # a gateway's page: documented, not the service's answer
        if op == "generate" and status == 200:
            if not ctype.startswith("image/"):
                message = f"HTTP 200 with {ctype or 'no content type'}, not an image"
                return [Finding(BREAKING, "not-an-image", op, message, request)]
            return []
        try:
            body = response.json()
        except ValueError:
            message = f"HTTP {status} {ctype or 'no content type'}, not JSON"
            return [Finding(BREAKING, "not-json", op, message, request)]
        out: list[Finding] = []
        if isinstance(body, dict) and body.get("status") == "FAILED" and status != 422:
            message = f"a FAILED request answered with HTTP {status}; Segmind serves it with 422"
            out.append(Finding(BREAKING, "failed-status", op, message, request))
        node = self._response_schema(op, status, body)
        if node is not None:
            out.extend(self.differ.diff(node, body, op, request))
        if isinstance(body, dict):
            out.extend(self._urls(op, body, request))
            out.extend(self._history(op, body, request))
        return out

    def _response_schema(self, op: str, status: int, body: Any) -> Any:
        """The JSON schema of an operation's answer with this status (a FAILED body by its own
        schema whatever the status, so a wrong status does not hide a wrong body)."""
        operation = self.spec.operations[op]
        raw = self.spec.document["paths"][operation.path][operation.method.lower()]["responses"]
        if isinstance(body, dict) and body.get("status") == "FAILED" and "422" in raw:
            key = "422"
        else:
            key = str(status) if str(status) in raw else ("default" if status >= 400 else "200")
        response = self.spec.resolve(raw.get(key) or raw["200"])
        content = response.get("content", {}).get("application/json")
        return None if content is None else content["schema"]

    def _urls(self, op: str, body: dict[str, Any], request: str) -> list[Finding]:
        """The URLs a client follows must be absolute and on the service itself."""
        out = []
        origin = urlsplit(self.config.base_url)
        for name in URL_FIELDS:
            url = body.get(name)
            if not isinstance(url, str):
                continue
            parts = urlsplit(url)
            if not parts.scheme or not parts.netloc:
                message = f"{name} {url!r} is not absolute: the SDK follows it as returned"
                out.append(Finding(BREAKING, "relative-url", f"{op} {name}", message, request))
            elif (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                message = f"{name} {url!r} is not on {self.config.base_url}"
                out.append(Finding(BREAKING, "foreign-url", f"{op} {name}", message, request))
        return out

    def _history(self, op: str, body: dict[str, Any], request: str) -> list[Finding]:
        """A request's status only moves forward, and a terminal one never changes."""
        request_id, status = body.get("request_id"), body.get("status")
        if not isinstance(request_id, str) or status not in ORDER:
            return []
        with self._lock:
            before = self.statuses.get(request_id)
            self.statuses[request_id] = str(status)
        if before is None or before == status:
            return []
        if ORDER[status] < ORDER[before] or before in TERMINAL:
            message = f"{request_id}: {before} → {status}"
            return [Finding(BREAKING, "status-backwards", f"{op} status", message, request)]
        return []

    # ---- the fake's control API (when the target has one) ------------------------------------
    def _has_control_api(self) -> bool:
        if self.config.live:
            return False
        try:
            response = self.client.get("/_mock/clock")
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and "nowMs" in response.text

    def _quicken(self) -> None:
        """On a fake served over HTTP, make the kit's requests end at once (a v1 call waits
        out its generation under a real clock), except the lifecycle's; removed at the end."""
        for rule in (
            {"outcome": "success", "promptContains": LIFECYCLE_MARK},
            {"outcome": "success", "durationSeconds": 0},
        ):
            scoped = {**rule, "times": None, "provider": PROVIDER, "apiKey": self.config.api_key}
            answer = self.client.post("/_mock/faults", json=scoped)
            if answer.status_code == 201:
                self._rules.append(answer.json()["id"])

    def advance(self, seconds: float) -> None:
        """Let time pass on the target: its clock when it has a control API, else real time."""
        if self.mock is not None:
            self.mock.advance(seconds)
        elif self.control:
            self.client.post("/_mock/clock/advance", json={"seconds": seconds})
        else:
            time.sleep(min(seconds, self.config.poll_seconds))

    def wait(self, status_url: str, api_key: str | None = "default") -> httpx.Response:
        """Poll a status URL until the request ends; the last answer."""
        deadline = time.monotonic() + self.config.lifecycle_timeout_s
        while True:
            response = self.request("GET", status_url, api_key)
            status = response.json().get("status") if response.status_code in (200, 422) else None
            if status in TERMINAL or status not in ORDER:
                return response
            if time.monotonic() > deadline:
                raise TimeoutError(f"{status_url} still {status} after the time budget")
            self.advance(2 if self.control or self.mock is not None else self.config.poll_seconds)

    def close(self) -> None:
        for rule_id in self._rules:
            self.client.delete(f"/_mock/faults/{rule_id}")
        self._rules.clear()
        while self._closers:
            self._closers.pop()()


@functools.cache
def session() -> SegmindKit:
    """The run's session, made from the environment on first use."""
    return SegmindKit(KitConfig.from_env(provider=PROVIDER))
