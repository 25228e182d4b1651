"""Scenario's bodies: a job (its eight statuses, progress and history, derived from the task and
the clock) and an asset (every field the SDK's strict validation requires)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from ideogram_mock.core.tasks import Task
from ideogram_mock.providers.scenario.models import EDIT_CAPABILITIES, JOB_TYPE

# Where in its phase a job turns from queued to warming-up, and from in-progress to finalizing.
WARMING_AT = 0.6
FINALIZING_AT = 0.85


def iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def person(api_key: str, kind: str) -> str:
    """A stable user or team id for a key (the key itself never shows)."""
    return f"{kind}_" + hashlib.blake2b(f"{kind}:{api_key}".encode(), digest_size=11).hexdigest()


def output_asset_ids(task: Task) -> list[str]:
    """The ids of a job's output assets (derived from its id, so nothing needs writing)."""
    suffix = task.task_id.removeprefix("job_")
    return [f"asset_{suffix}_{i}" for i in range(task.num_images)]


def history(task: Task, now_ms: int) -> list[tuple[int, str]]:
    """Each status the job has had by `now_ms`, with when it began, oldest first."""
    warming = task.queuing_ms + round((task.generating_ms - task.queuing_ms) * WARMING_AT)
    finalizing = task.generating_ms + round((task.complete_ms - task.generating_ms) * FINALIZING_AT)
    phases = [
        (task.created_ms, "pending"),
        (task.queuing_ms, "queued"),
        (warming, "warming-up"),
        (task.generating_ms, "in-progress"),
        (finalizing, "finalizing"),
    ]
    end = task.complete_ms
    if task.canceled:
        end_status = "canceled"
    elif task.failure is not None:
        end_status = "failure"
    else:
        end_status = "success"
    # Each phase begun by now and before the end (the first, pending, is always there).
    seen = [(at, s) for at, s in phases if at <= now_ms and (at < end or s == "pending")]
    if now_ms >= end:
        seen.append((end, end_status))
    return seen


def progress(task: Task, now_ms: int, status: str) -> float:
    """0 until the job runs, then rising with it; 1 on success; frozen where it stopped."""
    if status == "success":
        return 1.0
    at = min(now_ms, task.complete_ms - 1) if status in ("failure", "canceled") else now_ms
    span = task.complete_ms - task.generating_ms
    if at < task.generating_ms or span <= 0:
        return 0.0
    return round(min(0.99, (at - task.generating_ms) / span), 4)


def job(task: Task, now_ms: int, error: str | None = None) -> dict[str, Any]:
    """`{"job": …}` as `GET /v1/jobs/{id}` answers it."""
    steps = history(task, now_ms)
    status = steps[-1][1]
    metadata: dict[str, Any] = {"input": orjson.loads(task.request)}
    if status == "success":
        metadata["assetIds"] = output_asset_ids(task)
    elif status == "failure" and task.failure is not None:
        metadata["error"] = task.failure.msg
    elif status == "canceled":
        metadata["error"] = error or "The job was canceled"
    return {
        "jobId": task.task_id,
        "jobType": JOB_TYPE,
        "status": status,
        "progress": progress(task, now_ms, status),
        "statusHistory": [{"date": iso(at), "status": s} for at, s in steps],
        "metadata": metadata,
        "createdAt": iso(task.created_ms),
        "updatedAt": iso(steps[-1][0]),
        "authorId": person(task.api_key, "user"),
        "ownerId": person(task.api_key, "team"),
        "billing": {"cuCost": task.credits, "cuDiscount": 0},
    }


def asset(
    *,
    asset_id: str,
    api_key: str,
    created_ms: int,
    mime: str,
    width: int,
    height: int,
    size: int,
    url: str,
    kind: str,
    name: str | None = None,
    job_id: str | None = None,
) -> dict[str, Any]:
    """An asset with every field the SDK's strict validation requires."""
    metadata: dict[str, Any] = {"kind": "image", "type": kind, "width": width, "height": height}
    if name is not None:
        metadata["name"] = name
    if job_id is not None:
        metadata["parentJobId"] = job_id
        metadata["modelId"] = "model_ideogram-character"
    return {
        "id": asset_id,
        "authorId": person(api_key, "user"),
        "ownerId": person(api_key, "team"),
        "collectionIds": [],
        "createdAt": iso(created_ms),
        "updatedAt": iso(created_ms),
        "editCapabilities": list(EDIT_CAPABILITIES),
        "kind": "image",
        "metadata": metadata,
        "mimeType": mime,
        "privacy": "private",
        "properties": {"size": size, "width": width, "height": height},
        "source": kind,
        "status": "success",
        "tags": [],
        "url": url,
    }
