"""Segmind's v2 bodies: what submit, status and result answer, derived from a task and the
clock."""

from __future__ import annotations

from typing import Any

from ideogram_mock.core.tasks import Stage, Task
from ideogram_mock.providers.segmind.models import STATUSES


def urls(base: str, request_id: str) -> dict[str, str]:
    """The absolute URLs of a request (the SDK follows them exactly as returned)."""
    return {
        "poll_url": f"{base}/v1/requests/{request_id}",
        "status_url": f"{base}/v2/requests/{request_id}/status",
        "response_url": f"{base}/v2/requests/{request_id}",
    }


def submitted(base: str, request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "status": "QUEUED", **urls(base, request_id)}


def metrics(task: Task) -> dict[str, float]:
    """Seconds spent queued, generating and in all, once the task has ended."""
    return {
        "queue_time": round((task.generating_ms - task.created_ms) / 1000, 3),
        "inference_time": round((task.complete_ms - task.generating_ms) / 1000, 3),
        "total_time": round((task.complete_ms - task.created_ms) / 1000, 3),
    }


def status(task: Task, stage: Stage, base: str) -> dict[str, Any]:
    """`GET /v2/requests/{id}/status`: pending with its URLs, or ended with its metrics."""
    body: dict[str, Any] = {"status": STATUSES[stage], "request_id": task.task_id}
    if not stage.terminal:
        links = urls(base, task.task_id)
        body["status_url"], body["response_url"] = links["status_url"], links["response_url"]
        body["metrics"] = {}
        return body
    body["metrics"] = metrics(task)
    if task.failure is not None:
        body["error"] = task.failure.msg
    return body


def result(task: Task, stage: Stage, base: str, output: list[str]) -> dict[str, Any]:
    """`GET /v2/requests/{id}`: the status body until COMPLETED, then `output` (the image)."""
    body = status(task, stage, base)
    if stage is Stage.SUCCEEDED and output:
        body["output"] = output[0]
    return body
