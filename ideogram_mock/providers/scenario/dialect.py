"""Scenario as the core sees it: `job_…` ids, its statuses, and no per-task callbacks."""

from __future__ import annotations

import string
from typing import Any

import orjson

from ideogram_mock.core.dialect import Delivery
from ideogram_mock.core.tasks import Stage, Task
from ideogram_mock.providers.scenario import SCENARIO, records
from ideogram_mock.providers.scenario.models import NAME, STATES, WORDING
from ideogram_mock.server.spec import spec_words
from ideogram_mock.settings import Settings

ALPHABET = string.digits + string.ascii_letters


def base62(bits: int, width: int) -> str:
    out = []
    for _ in range(width):
        bits, digit = divmod(bits, 62)
        out.append(ALPHABET[digit])
    return "".join(out)


class ScenarioDialect:
    name = NAME
    wording = WORDING
    # How long a task is kept in fake time (None: the --retention setting).
    retention_s: float | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def task_id(self, bits: int) -> str:
        return "job_" + base62(bits, 22)

    def request_words(self) -> bytes:
        return spec_words(SCENARIO.spec)

    def state_name(self, stage: Stage) -> str:
        return STATES[stage]

    def callback(self, task: Task, urls: list[str], now_ms: int) -> Delivery:
        # Scenario's webhooks are per-endpoint subscriptions with an undocumented signature,
        # not per-task callback URLs, so no order asks for one; were one scheduled, it would
        # carry the job.
        return Delivery({"job": records.job(task, now_ms)})

    def request_view(self, task: Task) -> dict[str, Any]:
        view: dict[str, Any] = orjson.loads(task.request)
        return view

    def record(self, task: Task, stage: Stage, urls: list[str], now_ms: int) -> dict[str, Any]:
        # GET /v1/jobs/{jobId}'s answer.
        return {"job": records.job(task, now_ms)}
