"""Deliberately broken variants of the fake, each differing from the spec in one named way."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ideogram_mock.core.dialect import Delivery
from ideogram_mock.core.engine import Fake

Transform = Callable[[dict[str, Any]], dict[str, Any]]


def rewrite(prefix: str, transform: Transform) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware that rewrites the JSON answers of the paths under `prefix`."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not scope["path"].startswith(prefix):
                await app(scope, receive, send)
                return
            start: Message = {}
            chunks: list[bytes] = []

            async def capture(message: Message) -> None:
                nonlocal start
                if message["type"] == "http.response.start":
                    start = message
                    return
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                with contextlib.suppress(ValueError):
                    body = json.dumps(transform(json.loads(body))).encode()
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})

            await app(scope, receive, capture)

        return wrapped

    return wrap


def _data(change: Callable[[dict[str, Any]], None]) -> Transform:
    def transform(body: dict[str, Any]) -> dict[str, Any]:
        if isinstance(body.get("data"), dict):
            change(body["data"])
        return body

    return transform


def _rename(data: dict[str, Any]) -> None:
    data["task_id"] = data.pop("taskId")


def _retype(data: dict[str, Any]) -> None:
    data["createTime"] = str(data["createTime"])


def _restate(data: dict[str, Any]) -> None:
    if data.get("state") == "success":
        data["state"] = "done"


def _remove(data: dict[str, Any]) -> None:
    data.pop("param", None)


def _msg_renamed(body: dict[str, Any]) -> dict[str, Any]:
    body["message"] = body.pop("msg")
    return body


def _forget(body: dict[str, Any]) -> dict[str, Any]:
    return {"code": 422, "msg": "recordInfo is null", "data": None}


def break_callbacks(fake: Fake) -> None:
    """Callbacks lose their data.resultJson."""
    render = fake.dispatcher.delivery_for

    def delivery_for(
        task_id: str, now_ms: int, scheduled_for: int | None
    ) -> tuple[str, Delivery] | None:
        found = render(task_id, now_ms, scheduled_for)
        if found is not None:
            found[1].body["data"].pop("resultJson", None)
        return found

    fake.dispatcher.delivery_for = delivery_for


def failed_as_200(app: ASGIApp) -> ASGIApp:
    """Segmind's FAILED requests answered with HTTP 200 instead of 422."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/requests/"):
            await app(scope, receive, send)
            return

        async def restatus(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 422:
                message = {**message, "status": 200}
            await send(message)

        await app(scope, receive, restatus)

    return wrapped


def _relative_status_url(body: dict[str, Any]) -> dict[str, Any]:
    if isinstance(body.get("status_url"), str):
        body["status_url"] = "/v2/requests/" + body["status_url"].split("/v2/requests/")[1]
    return body


def _error_renamed(body: dict[str, Any]) -> dict[str, Any]:
    if "error" in body:
        body["message"] = body.pop("error")
    return body


def _job(change: Callable[[dict[str, Any]], None]) -> Transform:
    def transform(body: dict[str, Any]) -> dict[str, Any]:
        if isinstance(body.get("job"), dict):
            change(body["job"])
        return body

    return transform


def _status_renamed(job: dict[str, Any]) -> None:
    if job.get("status") == "success":
        job["status"] = "succeeded"
        job["statusHistory"][-1]["status"] = "succeeded"


def _progress_backwards(job: dict[str, Any]) -> None:
    if job.get("status") not in ("success", "failure", "canceled"):
        job["progress"] = round(1 - job["progress"], 4)


def _asset_field_dropped(body: dict[str, Any]) -> dict[str, Any]:
    if isinstance(body.get("asset"), dict):
        body["asset"].pop("mimeType", None)
    return body


@dataclass(frozen=True)
class Mutant:
    name: str
    wrap: Callable[[ASGIApp], ASGIApp] | None
    alter: Callable[[Fake], None] | None
    # What the drift report must say (each string must appear in it).
    named: tuple[str, ...]
    provider: str = "kie"


RECORD = "/api/v1/jobs/recordInfo"
MUTANTS = [
    Mutant(
        "renamed-field",
        rewrite(RECORD, _data(_rename)),
        None,
        ("renamed-field", "taskId", "task_id"),
    ),
    Mutant("type-change", rewrite(RECORD, _data(_retype)), None, ("type-change", "createTime")),
    Mutant("unknown-state", rewrite(RECORD, _data(_restate)), None, ("new-value", "done", "state")),
    Mutant("removed-field", rewrite(RECORD, _data(_remove)), None, ("missing-field", "param")),
    Mutant(
        "msg-renamed", rewrite("/api/", _msg_renamed), None, ("renamed-field", "msg", "message")
    ),
    Mutant("forgotten-task", rewrite(RECORD, _forget), None, ("forgotten-task",)),
    Mutant("callback-missing-field", None, break_callbacks, ("callback", "resultJson")),
]

SEGMIND_MUTANTS = [
    Mutant(
        "relative-status-url",
        rewrite("/v2/ideogram-character", _relative_status_url),
        None,
        ("relative-url", "status_url"),
        "segmind",
    ),
    Mutant("failed-as-200", failed_as_200, None, ("failed-status", "422"), "segmind"),
    Mutant(
        "error-renamed",
        rewrite("/v", _error_renamed),
        None,
        ("renamed-field", "error", "message"),
        "segmind",
    ),
]

SCENARIO_MUTANTS = [
    Mutant(
        "job-status-renamed",
        rewrite("/v1/jobs/", _job(_status_renamed)),
        None,
        ("new-value", "succeeded", "status"),
        "scenario",
    ),
    Mutant(
        "progress-backwards",
        rewrite("/v1/jobs/", _job(_progress_backwards)),
        None,
        ("progress-backwards",),
        "scenario",
    ),
    Mutant(
        "asset-field-dropped",
        rewrite("/v1/assets", _asset_field_dropped),
        None,
        ("missing-field", "mimeType"),
        "scenario",
    ),
]
