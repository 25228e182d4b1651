"""What kie's clients see of a task: recordInfo's `data` and the callback body, at a moment."""

from __future__ import annotations

from typing import Any

import orjson

from ideogram_mock.core.tasks import Task
from ideogram_mock.core.timeline import progress_at, stage_at, updated_at
from ideogram_mock.providers.kie.models import STATES

CALLBACK_OK = "Playground task completed successfully."
CALLBACK_FAILED = "Playground task failed."
# successFlag follows kie's other job APIs: 0 generating, 1 success, 3 generation failed.


def cost_seconds(task: Task) -> int:
    """costTime in seconds, as live traffic shows (the docs say ms)."""
    return (task.complete_ms - task.created_ms + 500) // 1000


def result_json(urls: list[str]) -> str:
    return orjson.dumps({"resultUrls": urls}).decode()


def record(task: Task, now_ms: int, urls: list[str]) -> dict[str, Any]:
    """recordInfo's `data`: the live shape (failCode null unless failed, costTime in s)."""
    if now_ms >= task.complete_ms:
        return _terminal(task, urls)
    return {
        "taskId": task.task_id,
        "model": task.model,
        "state": STATES[stage_at(task, now_ms)],
        "param": task.request,
        "resultJson": None,
        "failCode": None,
        "failMsg": None,
        "costTime": None,
        "completeTime": None,
        "createTime": task.created_ms,
        "updateTime": updated_at(task, now_ms),
        "progress": progress_at(task, now_ms),
        "creditsConsumed": None,
        "successFlag": 0,
        "response": None,
        "paramJson": task.request,
    }


def _terminal(task: Task, urls: list[str]) -> dict[str, Any]:
    """An ended task's record: the same at every read from its end on."""
    failure = task.failure
    done = failure is None
    return {
        "taskId": task.task_id,
        "model": task.model,
        "state": "success" if done else "fail",
        "param": task.request,
        "resultJson": result_json(urls) if done else None,
        "failCode": None if failure is None else failure.code,
        "failMsg": None if failure is None else failure.msg,
        "costTime": cost_seconds(task),
        "completeTime": task.complete_ms,
        "createTime": task.created_ms,
        "updateTime": task.complete_ms,
        "progress": 100,
        "creditsConsumed": task.credits if done else 0,
        "successFlag": 1 if done else 3,
        "response": {"resultUrls": urls} if done else None,
        "paramJson": task.request,
    }


def callback_body(task: Task, urls: list[str]) -> dict[str, Any]:
    """The POST body to callBackUrl when the task has ended (the live shape, not recordInfo's)."""
    data: dict[str, Any] = {
        "completeTime": task.complete_ms,
        "costTime": cost_seconds(task),
        "createTime": task.created_ms,
        "creditsConsumed": task.credits if task.failure is None else 0,
        "model": task.model,
        "param": task.request,
        "resultJson": result_json(urls) if task.failure is None else None,
        "state": "success" if task.failure is None else "fail",
        "taskId": task.task_id,
        "updateTime": task.complete_ms,
    }
    if task.failure is not None:
        data["failCode"] = task.failure.code
        data["failMsg"] = task.failure.msg
        return {"code": 501, "msg": CALLBACK_FAILED, "data": data}
    return {"code": 200, "msg": CALLBACK_OK, "data": data}
