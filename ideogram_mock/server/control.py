"""The control API (`/_mock/…`) and the `/files/…` routes that serve generated images."""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from ideogram_mock.core.engine import Fake
from ideogram_mock.core.errors import (
    BadSignature,
    DomainError,
    FileMissing,
    InvalidInput,
    LinkExpired,
    RuleNotFound,
    TaskNotFound,
)
from ideogram_mock.core.files import EXTENSIONS
from ideogram_mock.core.images import MEDIA_TYPES
from ideogram_mock.core.journal import CallbackAttempt, RequestEntry, as_json
from ideogram_mock.core.tasks import Task
from ideogram_mock.providers import PROVIDERS
from ideogram_mock.server.endpoint import HangUp, RawEndpoint
from ideogram_mock.server.httpio import BodyTimeout, is_json, parse_json, read_body
from ideogram_mock.server.routes import Endpoint
from ideogram_mock.server.spec import CONTROL, Operation, Rejection, load_document
from ideogram_mock.server.ui import UI_HEADERS, UI_PAGE

log = logging.getLogger("ideogram_mock")
Handler = Callable[[Request, Operation], Awaitable[Any]]
T = TypeVar("T")
PAGE_SIZE = 100
MEDIA_BY_EXT = {ext: MEDIA_TYPES[fmt] for fmt, ext in EXTENSIONS.items()}
# The control API's HTTP status for each of the core's errors it can meet.
STATUS: dict[type[DomainError], int] = {
    TaskNotFound: 404,
    RuleNotFound: 404,
    FileMissing: 404,
    BadSignature: 403,
    LinkExpired: 410,
    InvalidInput: 422,
}


class ControlError(Exception):
    """A control-API refusal: an HTTP status and `{"error": …, "field": …}`."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        self.status = status
        self.error = error
        self.field = field
        super().__init__(f"{status} {error}")


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def control_error(status: int, message: str, field: str | None = None) -> Response:
    payload: dict[str, str] = {"error": message}
    if field:
        payload["field"] = field
    return json_response(orjson.dumps(payload), status)


def _whole_numbers(value: Any) -> Any:
    """A body with its whole floats as integers (`"credits": 100.0` is the spec's integer
    100): kept and answered as the integers they are, not as `100.0`. (Only those a double
    holds exactly.)"""
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if kind is dict:
        return {key: _whole_numbers(item) for key, item in value.items()}
    if kind is list:
        return [_whole_numbers(item) for item in value]
    return value


def task_view(fake: Fake, task: Task) -> dict[str, Any]:
    """A task as the control API shows it: the core's view, in its provider's state names."""
    dialect = fake.dialects[task.provider]
    stage = fake.stage(task)
    failure = task.failure
    return {
        "taskId": task.task_id,
        "provider": task.provider,
        "apiKey": task.api_key,
        "model": task.model,
        "stage": stage.value,
        "state": dialect.state_name(stage),
        "createTime": task.created_ms,
        "queuingAt": task.queuing_ms,
        "generatingAt": task.generating_ms,
        "completeAt": task.complete_ms,
        "outcome": {
            "state": "fail" if failure else "success",
            "failCode": failure.code if failure else None,
            "failMsg": failure.msg if failure else None,
            "rule": task.rule_id,
        },
        "numImages": task.num_images,
        "width": task.size[0],
        "height": task.size[1],
        "callBackUrl": task.callback_url,
        "resultUrls": fake.result_urls(task),
        "creditsCharged": task.credits,
        "input": dialect.request_view(task),
        "record": dialect.record(task, stage, fake.result_urls(task), fake.clock.now_ms()),
    }


class Control:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def handlers(self) -> dict[str, Handler | RawEndpoint]:
        return {
            "mockReset": self.reset,
            "mockSettings": self.settings,
            "mockClock": self.clock,
            "mockClockAdvance": self.clock_advance,
            "mockListTasks": self.list_tasks,
            "mockGetTask": self.get_task,
            "mockFinishTask": self.finish_task,
            "mockFailTask": self.fail_task,
            "mockUi": self.ui,
            "mockUiBare": self.ui_bare,
            "mockListFaults": self.list_faults,
            "mockAddFault": self.add_fault,
            "mockClearFaults": self.clear_faults,
            "mockDeleteFault": self.delete_fault,
            "mockSetMaintenance": self.set_maintenance,
            "mockGetMaintenance": self.get_maintenance,
            "mockListCallbacks": self.list_callbacks,
            "mockListRequests": self.list_requests,
            "mockListAccounts": self.list_accounts,
            "mockPutAccount": self.put_account,
            "mockForgetAccount": self.forget_account,
            "downloadFile": FileDownload(self.fake),
            "health": self.health,
            "openapiDocument": self.openapi_document,
        }

    async def health(self, request: Request, op: Operation) -> Any:
        from ideogram_mock import __version__

        return {
            "status": "ok",
            "version": __version__,
            "providers": list(self.fake.dialects),
            "clock": self.fake.clock.mode,
            "tasks": len(self.fake.store),
            "store": self.fake.store.kind,
            "pid": os.getpid(),
        }

    async def openapi_document(self, request: Request, op: Operation) -> Any:
        name = str(request.path_params["document"]).removesuffix(".json")
        files = {p.name: p.spec for p in PROVIDERS.values() if p.name in self.fake.dialects}
        files["mock-control"] = CONTROL
        if name not in files:
            choices = ", ".join(f"{n}.json" for n in files)
            raise ControlError(404, f"no document {name!r}; documents: {choices}", "document")
        document = dict(load_document(files[name]))
        document["servers"] = [{"url": self.fake.settings.base_url, "description": "this fake"}]
        return document

    async def _body(
        self, request: Request, op: Operation, explain: Callable[[Any], object] | None = None
    ) -> Any:
        raw = await read_body(
            request.scope,
            request.receive,
            self.fake.settings.max_body_bytes,
            self.fake.settings.body_timeout_s,
        )
        if raw is None:
            raise ControlError(413, "request body is too large")
        body = parse_json(raw)
        if not is_json(body):
            raise ControlError(400, "request body is not valid JSON")
        if op.body is not None:
            rejection = op.body.reject(body)
            if rejection is not None:
                if explain is not None:
                    # The spec says no; the domain may say why in plainer words.
                    try:
                        explain(body)
                    except DomainError as exc:
                        raise ControlError(422, exc.message, exc.field) from None
                    except (TypeError, ValueError, KeyError, AttributeError):
                        pass  # a body too far off for the domain to read: the spec's words
                raise ControlError(422, rejection.msg, rejection.field or None)
        return _whole_numbers(body)

    def _clock(self, delivered: int | None = None) -> dict[str, Any]:
        now = self.fake.clock.now_ms()
        out: dict[str, Any] = {
            "mode": self.fake.clock.mode,
            "nowMs": now,
            "now": datetime.fromtimestamp(now / 1000, UTC).isoformat().replace("+00:00", "Z"),
            "timeScale": self.fake.settings.time_scale,
        }
        if delivered is not None:
            out["delivered"] = delivered
        return out

    async def reset(self, request: Request, op: Operation) -> Any:
        self.fake.reset()
        return {"ok": True}

    async def settings(self, request: Request, op: Operation) -> Any:
        return self.fake.settings.as_dict()

    async def clock(self, request: Request, op: Operation) -> Any:
        return self._clock()

    async def clock_advance(self, request: Request, op: Operation) -> Any:
        body = await self._body(request, op)
        return self._clock(await self.fake.advance(float(body["seconds"])))

    async def list_tasks(self, request: Request, op: Operation) -> Any:
        params = request.query_params
        key, provider = params.get("apiKey"), params.get("provider")
        state, stage = params.get("state"), params.get("stage")
        tasks: list[Task] = []
        for task in self.fake.served():
            if (key is not None and task.api_key != key) or (
                provider is not None and task.provider != provider
            ):
                continue
            now_stage = self.fake.stage(task)
            if stage is not None and now_stage != stage:
                continue
            if (
                state is not None
                and self.fake.dialects[task.provider].state_name(now_stage) != state
            ):
                continue
            tasks.append(task)
        page, count, after = _page(tasks, request)
        return {"count": count, "next": after, "tasks": [task_view(self.fake, t) for t in page]}

    async def get_task(self, request: Request, op: Operation) -> Any:
        return task_view(self.fake, self.fake.task(request.path_params["taskId"]))

    async def finish_task(self, request: Request, op: Operation) -> Any:
        return task_view(self.fake, await self.fake.finish(request.path_params["taskId"]))

    async def get_maintenance(self, request: Request, op: Operation) -> Any:
        return {"enabled": self.fake.rules.maintenance}

    async def fail_task(self, request: Request, op: Operation) -> Any:
        task = self.fake.fail_now(self.fake.task(request.path_params["taskId"]))
        return task_view(self.fake, task)

    async def ui(self, request: Request, op: Operation) -> Any:
        return HTMLResponse(UI_PAGE, headers=UI_HEADERS)

    async def ui_bare(self, request: Request, op: Operation) -> Any:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{request.url.path}/{query}", status_code=308)

    async def list_faults(self, request: Request, op: Operation) -> Any:
        return {"faults": [r.as_json() for r in self.fake.rules.all()]}

    async def add_fault(self, request: Request, op: Operation) -> Any:
        rule = self.fake.rules.add(await self._body(request, op, self.fake.rules.explain))
        return 201, rule.as_json()

    async def clear_faults(self, request: Request, op: Operation) -> Any:
        return {"ok": True, "removed": self.fake.rules.clear()}

    async def delete_fault(self, request: Request, op: Operation) -> Any:
        self.fake.rules.delete(request.path_params["ruleId"])
        return {"ok": True, "removed": 1}

    async def set_maintenance(self, request: Request, op: Operation) -> Any:
        body = await self._body(request, op)
        self.fake.rules.maintenance = bool(body["enabled"])
        return {"enabled": self.fake.rules.maintenance}

    async def list_callbacks(self, request: Request, op: Operation) -> Any:
        attempts = _matching(self.fake.callbacks, request, ("taskId", "provider"))
        page, count, after = _page(attempts, request)
        return {
            "pending": self.fake.dispatcher.pending,
            "count": count,
            "next": after,
            "attempts": page,
        }

    async def list_requests(self, request: Request, op: Operation) -> Any:
        entries = _matching(self.fake.requests, request, ("operationId", "provider"))
        page, count, after = _page(entries, request)
        return {"count": count, "next": after, "requests": page}

    async def list_accounts(self, request: Request, op: Operation) -> Any:
        now = self.fake.clock.now_ms()
        return {"accounts": [_account(a, now) for a in self.fake.accounts.all()]}

    async def put_account(self, request: Request, op: Operation) -> Any:
        body = await self._body(request, op)
        account = self.fake.accounts.put(request.path_params["apiKey"], body.get("credits"))
        return _account(account, self.fake.clock.now_ms())

    async def forget_account(self, request: Request, op: Operation) -> Any:
        return {"ok": True, "removed": self.fake.forget_account(request.path_params["apiKey"])}

    def _authorized(self, request: Request) -> bool:
        token = self.fake.settings.admin_token
        if not token:
            return True
        given = request.headers.get("x-admin-token")
        if request.url.path.startswith("/_mock/ui"):
            given = given or request.query_params.get("token")  # a browser opening the page
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = given or bearer.strip()
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def wrap(self, op: Operation, handler: Handler | RawEndpoint) -> Endpoint:
        guarded = op.path.startswith("/_mock")
        if isinstance(handler, RawEndpoint):
            if guarded:  # it would answer without asking for the admin token
                raise TypeError(f"{op.operation_id}: a raw endpoint cannot serve /_mock")
            return handler  # it answers everything itself

        async def endpoint(request: Request) -> Response:
            if guarded and not self._authorized(request):
                return control_error(
                    401, "the control API needs the admin token (Authorization: Bearer <token>)"
                )
            try:
                rejection = op.reject_query(request.query_params)
                repeated = _repeated(request, op)
                if repeated is not None:
                    raise ControlError(422, f"{repeated} is given more than once", repeated)
                rejection = rejection or _empty_choice(request, op)
                if rejection is not None:
                    raise ControlError(422, rejection.msg, rejection.field or None)
                result = await handler(request, op)
            except ControlError as exc:
                return control_error(exc.status, exc.error, exc.field)
            except (BodyTimeout, ClientDisconnect):
                return HangUp()  # the client is gone, or its body never came
            except Exception as exc:
                return _refusal(exc, op.operation_id)
            if isinstance(result, Response):
                return result
            status, data = result if isinstance(result, tuple) else (200, result)
            return json_response(orjson.dumps(data), status)

        return endpoint


def _refusal(exc: Exception, operation_id: str) -> Response:
    """The control API's answer to an error: the core's, by its status; any other is a bug in
    the fake (500, its traceback logged)."""
    if isinstance(exc, DomainError) and (status := STATUS.get(type(exc))) is not None:
        return control_error(status, exc.message, exc.field)
    log.error("unexpected error in %s", operation_id, exc_info=exc)
    return control_error(500, "internal error in the fake; see its log")


class FileDownload(RawEndpoint):
    """`GET /files/{taskId}/{expires}/{sig}/{name}`: a result image's bytes, or the control
    API's error (404 no such file, 403 a signature that does not match, 410 an expired link).
    Raw ASGI: a client's test downloads an image per task, and starlette's request and
    response objects would cost more than the lookup."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        name = params["name"]
        try:
            data = self.fake.file(params["taskId"], params["expires"], params["sig"], name)
        except Exception as exc:
            await _refusal(exc, "downloadFile")(scope, receive, send)
            return
        headers = [
            (b"cache-control", b"private, max-age=60"),
            (b"content-length", str(len(data)).encode()),
            (b"content-type", MEDIA_BY_EXT[name.rsplit(".", 1)[-1]].encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _repeated(request: Request, op: Operation) -> str | None:
    """A declared query parameter given more than once (each takes one value), or None."""
    names = [name for name, _ in request.query_params.multi_items()]
    if len(names) == len(set(names)):
        return None
    declared = {p.name for p in op.parameters if p.location == "query"}
    return next((n for n in names if names.count(n) > 1 and n in declared), None)


def _empty_choice(request: Request, op: Operation) -> Rejection | None:
    """An empty value for a query parameter that takes one of a few values (`?order=`): not a
    missing one, a wrong one."""
    for param in op.parameters:
        given = request.query_params.get(param.name)
        if param.location == "query" and given == "" and not param.check.is_valid(""):
            v = param.check.violations("", param.name)[0]
            return Rejection(422, v.message, v.field, v.rule)
    return None


def _page(items: list[T], request: Request) -> tuple[list[T], int, int | None]:
    """One page of `items` by the (spec-checked) `limit`, `offset` and `order` parameters: the
    page, how many there are in all, and the next page's offset (None on the last)."""
    params = request.query_params
    limit, offset = int(params.get("limit", PAGE_SIZE)), int(params.get("offset", 0))
    if params.get("order") == "desc":
        items = items[::-1]
    page = items[offset : offset + limit]
    return page, len(items), offset + limit if offset + limit < len(items) else None


def _matching(
    journal: Iterable[RequestEntry | CallbackAttempt], request: Request, fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The journal's entries whose fields equal the query parameters of those names."""
    wanted = {f: request.query_params[f] for f in fields if f in request.query_params}
    entries = (as_json(e) for e in journal)
    return [e for e in entries if all(e[f] == v for f, v in wanted.items())]


def _account(account: Any, now_ms: int) -> dict[str, Any]:
    return {"apiKey": account.api_key, "credits": account.balance(now_ms), "tasks": account.tasks}
