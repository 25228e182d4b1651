"""One run of Segmind's kit: what sets Segmind apart from the shared session (its key header,
the v1 image, absolute v2 URLs, FAILED as 422, `{"error"}`, statuses only moving forward)."""

from __future__ import annotations

import functools
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ideogram_mock.kit.cases import describe
from ideogram_mock.kit.config import KitConfig
from ideogram_mock.kit.findings import BREAKING, Finding
from ideogram_mock.kit.provider_kit import BudgetExhausted, ProviderKit

__all__ = ["LIFECYCLE_MARK", "SPEC", "SPENDING", "BudgetExhausted", "SegmindKit", "session"]

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


class SegmindKit(ProviderKit):
    provider = PROVIDER
    spec_name = SPEC
    spending = SPENDING
    order = ORDER
    terminal = TERMINAL

    def __init__(self, config: KitConfig) -> None:
        super().__init__(config)
        self.statuses: dict[str, str] = {}
        if self.target.shared:
            # A v1 call waits out its generation under a real clock: make the kit's own end at
            # once, except the lifecycle test's (natural on a manual clock, 1 s on a real one).
            lifecycle: dict[str, Any] = {"outcome": "success", "promptContains": LIFECYCLE_MARK}
            if not self.target.manual:
                lifecycle["durationSeconds"] = 1
            self.add_rule({**lifecycle, "times": None})
            self.add_rule({"outcome": "success", "durationSeconds": 0, "times": None})

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

    def surely_refused(self, request: httpx.Request, op: str) -> bool:
        if op != "generate":
            return False  # v2 queues what it will refuse, and may bill it
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return True
        spec_body = self.spec.operations["generate"].body
        assert spec_body is not None
        return spec_body.reject(body) is not None

    def retry_wait(self, response: httpx.Response, attempt: int) -> float:
        reset = response.headers.get("x-rate-limit-reset-at-utc")
        try:
            at = datetime.fromisoformat(reset.replace("Z", "+00:00")) if reset else None
        except ValueError:
            at = None
        if at is None:
            return super().retry_wait(response, attempt)
        return min(60.0, max(0.0, at.timestamp() - time.time()) + 0.1)

    # ---- checks on every answer --------------------------------------------------------------
    def check(self, op: str, response: httpx.Response) -> list[Finding]:
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
        failed = isinstance(body, dict) and body.get("status") == "FAILED"
        if failed and status != 422:
            message = f"a FAILED request answered with HTTP {status}; Segmind serves it with 422"
            out.append(Finding(BREAKING, "failed-status", op, message, request))
        # A FAILED body by its own schema, so a wrong status does not hide a wrong body.
        out.extend(self.schema_diff(op, "422" if failed else str(status), body, request))
        if isinstance(body, dict):
            out.extend(self._urls(op, body, request))
            out.extend(self._history(op, body, request))
        return out

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

    def wait(self, status_url: str, api_key: str | None = "default") -> httpx.Response:
        """Poll a status URL until the request ends; the last answer."""

        def status(response: httpx.Response) -> Any:
            return response.json().get("status") if response.status_code in (200, 422) else None

        return self.poll(lambda: self.request("GET", status_url, api_key), status, status_url, 2)


@functools.cache
def session() -> SegmindKit:
    """The run's session, made from the environment on first use."""
    return SegmindKit(KitConfig.from_env(provider=PROVIDER))
