"""What the handle returns, typed: a task as the control API shows it, a request journal entry
and a callback attempt. TypedDicts, so `view["state"]` keeps working and a type checker knows
each field."""

from __future__ import annotations

from typing import Any, TypedDict


class Outcome(TypedDict):
    state: str  # success | fail: what the task was scripted to do
    failCode: str | None
    failMsg: str | None
    rule: str | None


class TaskView(TypedDict):
    taskId: str
    provider: str
    apiKey: str
    model: str
    stage: str  # pending | queued | running | succeeded | failed | canceled
    state: str  # the provider's word for it
    createTime: int
    queuingAt: int
    generatingAt: int
    completeAt: int
    outcome: Outcome
    numImages: int
    width: int
    height: int
    callBackUrl: str | None
    resultUrls: list[str]
    creditsCharged: int
    input: dict[str, Any]


class RequestRecord(TypedDict):
    seq: int
    atMs: int
    provider: str | None
    method: str
    path: str
    operationId: str | None
    apiKey: str | None
    status: int
    code: int | None
    taskId: str | None
    fault: str | None
    warning: str | None


class CallbackRecord(TypedDict):
    provider: str
    taskId: str
    url: str
    attempt: int
    atMs: int
    ok: bool
    status: int | None
    latencyMs: float
    error: str | None
    headers: dict[str, str]
    body: dict[str, Any]


class RuleView(TypedDict, total=False):
    """A rule as the control API shows it (fields beyond id, remaining, used and times appear
    when the rule has them)."""

    id: str
    remaining: int | None
    used: int
    times: int | None
    outcome: str
    failCode: str
    failMsg: str
    durationSeconds: float
    endpoint: str
    kind: str
    code: int
    msg: str
    latencyMs: float
    jitterMs: float
    provider: str
    apiKey: str
    model: str
    promptContains: str
