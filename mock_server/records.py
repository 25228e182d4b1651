"""What clients see of a task: recordInfo's `data` and the callback body, at a moment."""

from __future__ import annotations

from typing import Any

import orjson

from .lifecycle import progress_at, state_at, updated_at
from .models import Task, TaskState

CALLBACK_OK = "Playground task completed successfully."
CALLBACK_FAILED = "Playground task failed."
# kie's successFlag elsewhere: 0 generating, 1 success, 3 generation failed.
SUCCESS_FLAGS = {TaskState.SUCCESS: 1, TaskState.FAIL: 3}


def cost_seconds(task: Task) -> int:
    """costTime in seconds, as live traffic shows (the docs say ms)."""
    return (task.complete_ms - task.created_ms + 500) // 1000


def result_json(urls: list[str]) -> str:
    return orjson.dumps({"resultUrls": urls}).decode()


def record(task: Task, now_ms: int, urls: list[str]) -> dict[str, Any]:
    """recordInfo's `data`: the live shape (failCode null unless failed, costTime in s)."""
    state = state_at(task, now_ms)
    done = state is TaskState.SUCCESS
    failed = state is TaskState.FAIL
    terminal = done or failed
    return {
        "taskId": task.task_id,
        "model": task.model,
        "state": state.value,
        "param": task.param,
        "resultJson": result_json(urls) if done else None,
        "failCode": task.failure.code if failed and task.failure else None,
        "failMsg": task.failure.msg if failed and task.failure else None,
        "costTime": cost_seconds(task) if terminal else None,
        "completeTime": task.complete_ms if terminal else None,
        "createTime": task.created_ms,
        "updateTime": updated_at(task, now_ms),
        "progress": progress_at(task, now_ms),
        "creditsConsumed": task.credits if done else (0 if failed else None),
        "successFlag": SUCCESS_FLAGS.get(state, 0),
        "response": {"resultUrls": urls} if done else None,
        "paramJson": task.param,
    }


def callback_body(task: Task, urls: list[str]) -> dict[str, Any]:
    """The POST body to callBackUrl when the task has ended (the live shape, not recordInfo's)."""
    data: dict[str, Any] = {
        "completeTime": task.complete_ms,
        "costTime": cost_seconds(task),
        "createTime": task.created_ms,
        "creditsConsumed": task.credits if task.failure is None else 0,
        "model": task.model,
        "param": task.param,
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
