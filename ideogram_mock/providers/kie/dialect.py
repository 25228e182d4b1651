"""kie as the core sees it: its words, its state names, and its signed callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from ideogram_mock.core.dialect import Delivery
from ideogram_mock.core.tasks import Stage, Task
from ideogram_mock.providers.kie import KIE, records
from ideogram_mock.providers.kie.models import NAME, STATES, WORDING
from ideogram_mock.server.spec import spec_words
from ideogram_mock.settings import Settings

# Seen live on kie's callbacks.
HEADERS = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "okhttp/3.14.9"}


def signature(key: str, task_id: str, timestamp: str) -> str:
    """kie's webhook signature: base64(HMAC-SHA256(key, taskId + "." + timestamp))."""
    mac = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class KieDialect:
    name = NAME
    wording = WORDING
    # How long a task is kept in fake time (None: the --retention setting).
    retention_s: float | None = None

    def __init__(self, settings: Settings) -> None:
        self.hmac_key = settings.webhook_hmac_key

    def task_id(self, bits: int) -> str:
        return f"{bits:032x}"

    def request_words(self) -> bytes:
        return spec_words(KIE.spec)

    def state_name(self, stage: Stage) -> str:
        return STATES[stage]

    def callback(self, task: Task, urls: list[str], now_ms: int) -> Delivery:
        headers = dict(HEADERS)
        if self.hmac_key:
            stamp = str(now_ms // 1000)
            headers["X-Webhook-Timestamp"] = stamp
            headers["X-Webhook-Signature"] = signature(self.hmac_key, task.task_id, stamp)
        return Delivery(records.callback_body(task, urls), headers)

    def request_view(self, task: Task) -> dict[str, Any]:
        inputs: dict[str, Any] = orjson.loads(task.request)["input"]
        return inputs

    def record(self, task: Task, stage: Stage, urls: list[str], now_ms: int) -> dict[str, Any]:
        # recordInfo's answer: the envelope around the record.
        return {"code": 200, "msg": "success", "data": records.record(task, now_ms, urls)}
