"""Segmind as the core sees it: uuid4 request ids, its four statuses, and no callbacks."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from ideogram_mock.core.dialect import Delivery
from ideogram_mock.core.tasks import Stage, Task
from ideogram_mock.providers.segmind import SEGMIND, records
from ideogram_mock.providers.segmind.models import NAME, RESULT_TTL_S, STATUSES, WORDING
from ideogram_mock.server.spec import spec_words
from ideogram_mock.settings import Settings


class SegmindDialect:
    name = NAME
    wording = WORDING
    # How long a task is kept in fake time (None: the --retention setting).
    retention_s: float | None = RESULT_TTL_S

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.base_url

    def task_id(self, bits: int) -> str:
        return str(uuid.UUID(int=bits, version=4))

    def request_words(self) -> bytes:
        return spec_words(SEGMIND.spec)

    def state_name(self, stage: Stage) -> str:
        return STATUSES[stage]

    def callback(self, task: Task, urls: list[str], now_ms: int) -> Delivery:
        # Segmind has no webhook for plain inference (its webhooks are PixelFlow's), so no
        # order asks for one; were one scheduled, it would carry the result body.
        stage = Stage.FAILED if task.failure is not None else Stage.SUCCEEDED
        return Delivery(records.result(task, stage, self.base_url, urls))

    def request_view(self, task: Task) -> dict[str, Any]:
        view: dict[str, Any] = orjson.loads(task.request)
        return view

    def record(self, task: Task, stage: Stage, urls: list[str], now_ms: int) -> dict[str, Any]:
        # The v2 request's answer at its response URL (its status URL says less).
        return records.result(task, stage, self.base_url, urls)
