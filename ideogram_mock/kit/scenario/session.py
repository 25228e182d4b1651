"""One run of Scenario's kit: what sets Scenario apart from the shared session (Basic auth,
assets uploaded from bytes, jobs whose status only moves forward and whose progress never
goes back, `statusHistory` ending with the current status)."""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

import httpx

from ideogram_mock.core import images
from ideogram_mock.kit.cases import describe
from ideogram_mock.kit.config import KitConfig
from ideogram_mock.kit.findings import BREAKING, Finding
from ideogram_mock.kit.provider_kit import BudgetExhausted, ProviderKit

__all__ = ["SPEC", "SPENDING", "BudgetExhausted", "ScenarioKit", "portrait", "session"]

SPEC = "scenario.yaml"
PROVIDER = "scenario"
SPENDING = ("generate",)
ORDER = {
    "pending": 0,
    "queued": 1,
    "warming-up": 2,
    "in-progress": 3,
    "finalizing": 4,
    "success": 5,
    "failure": 5,
    "canceled": 5,
}
TERMINAL = ("success", "failure", "canceled")
MODEL_PATH = "/v1/generate/custom/model_ideogram-character"


def portrait(key: int = 1) -> str:
    """A small real PNG (the fake's own drawing of a character), base64, to upload."""
    return base64.b64encode(images.generated_image(256, 256, key, "png", key)).decode()


class ScenarioKit(ProviderKit):
    provider = PROVIDER
    spec_name = SPEC
    spending = SPENDING
    order = ORDER
    terminal = TERMINAL

    def __init__(self, config: KitConfig) -> None:
        super().__init__(config)
        self.jobs: dict[str, tuple[int, float]] = {}
        if self.target.shared and not self.target.manual:
            # A real clock the kit must not move: its own jobs take 1 s instead of ~20.
            self.add_rule({"outcome": "success", "durationSeconds": 1, "times": None})

    def headers(self, api_key: str | None = "default") -> dict[str, str]:
        key = self.config.api_key if api_key == "default" else api_key
        if not key:
            return {}
        token = base64.b64encode(f"{key}:{self.config.api_secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def surely_refused(self, request: httpx.Request, op: str) -> bool:
        if request.url.params.get("dryRun"):
            return True  # an estimate spends nothing
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return True
        spec_body = self.spec.operations[op].body
        assert spec_body is not None
        return spec_body.reject(body) is not None

    def retry_wait(self, response: httpx.Response, attempt: int) -> float:
        after = response.headers.get("retry-after", "")
        if after.isdigit():
            return min(60.0, float(after))
        return super().retry_wait(response, attempt)

    def upload(self, api_key: str | None = "default", key: int = 1) -> str:
        """A new asset of the caller's (a real PNG); its id."""
        body = {"name": "kit-portrait.png", "image": portrait(key)}
        response = self.request("POST", "/v1/assets", api_key, json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["asset"]["id"])

    def generate(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.request("POST", MODEL_PATH, json=body, **kwargs)

    # ---- checks on every answer --------------------------------------------------------------
    def check(self, op: str, response: httpx.Response) -> list[Finding]:
        request = describe(response.request)
        status = response.status_code
        ctype = response.headers.get("content-type", "").split(";")[0].strip()
        if status == 502 and ctype == "text/html":
            return []  # a gateway's page: documented, not the service's answer
        if op == "assetContent" and status == 200:
            if images.sniff(response.content) is None:
                return [Finding(BREAKING, "not-an-image", op, f"{ctype} is no image", request)]
            return []
        try:
            body = response.json()
        except ValueError:
            message = f"HTTP {status} {ctype or 'no content type'}, not JSON"
            return [Finding(BREAKING, "not-json", op, message, request)]
        out = self.schema_diff(op, str(status), body, request)
        job = body.get("job") if isinstance(body, dict) else None
        if isinstance(job, dict):
            out.extend(self._job(op, job, request))
        return out

    def _job(self, op: str, job: dict[str, Any], request: str) -> list[Finding]:
        """A job's status only moves forward, its progress never goes back (1 on success),
        and its history ends with where it is."""
        out: list[Finding] = []

        def breaking(category: str, message: str) -> None:
            out.append(Finding(BREAKING, category, f"{op} job", message, request))

        job_id, status, progress = job.get("jobId"), job.get("status"), job.get("progress")
        if not isinstance(job_id, str) or status not in ORDER:
            return out  # the schema diff names these
        history = job.get("statusHistory")
        if isinstance(history, list) and history and isinstance(history[-1], dict):
            last = history[-1].get("status")
            if last != status:
                breaking("status-history", f"{job_id}: status {status}, history ends {last}")
        if status == "success" and progress != 1:
            breaking("progress", f"{job_id}: success with progress {progress}")
        if not isinstance(progress, int | float):
            return out
        with self._lock:
            before = self.jobs.get(job_id)
            self.jobs[job_id] = (ORDER[status], float(progress))
        if before is not None:
            if ORDER[status] < before[0]:
                breaking("status-backwards", f"{job_id}: status went back to {status}")
            if progress < before[1]:
                breaking("progress-backwards", f"{job_id}: progress {before[1]} → {progress}")
        return out

    def wait(self, job_id: str, api_key: str | None = "default") -> dict[str, Any]:
        """Poll a job until it ends; its last body."""

        def read() -> dict[str, Any]:
            response = self.request("GET", f"/v1/jobs/{job_id}", api_key)
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()["job"]
            return job

        return self.poll(read, lambda job: job.get("status"), job_id, 1)


@functools.cache
def session() -> ScenarioKit:
    """The run's session, made from the environment on first use."""
    return ScenarioKit(KitConfig.from_env(provider=PROVIDER))
