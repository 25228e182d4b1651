"""The upstream API's handlers: a few lines each, translating HTTP into calls on the Fake."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from ideogram_mock.core.engine import Fake
from ideogram_mock.core.errors import ApiError, ConnectionDropped, GatewayFailure
from ideogram_mock.core.journal import RequestEntry
from ideogram_mock.providers.kie import envelope
from ideogram_mock.server.httpio import bearer, is_json, parse_json, query, read_body
from ideogram_mock.server.routes import Endpoint
from ideogram_mock.server.spec import Operation

log = logging.getLogger("ideogram_mock")
NOT_JSON_MSG = "request body is not valid JSON"
DROP_HEADERS = [(b"content-length", b"64"), (b"content-type", b"application/json")]


@dataclass
class Call:
    """One request on its way through: what the journal records about it."""

    scope: Scope
    receive: Receive
    op: Operation
    api_key: str | None
    fault: str | None = None
    task_id: str | None = None

    @property
    def request(self) -> Request:
        """A starlette Request, made only by handlers that read a body."""
        return Request(self.scope, self.receive)


Handler = Callable[[Call], Awaitable[Any]]


def _peek(body: Any) -> tuple[str | None, str | None]:
    """model and prompt, when the body has them, for rules that match on them."""
    if not isinstance(body, dict):
        return None, None
    model = body.get("model")
    inp = body.get("input")
    prompt = inp.get("prompt") if isinstance(inp, dict) else None
    return (
        model if isinstance(model, str) else None,
        prompt if isinstance(prompt, str) else None,
    )


class Upstream:
    """kie.ai's jobs API over a Fake."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.mirror = fake.settings.http_status == "mirror"

    def handlers(self) -> dict[str, Handler]:
        return {
            "createTask": self.create_task,
            "getTaskRecord": self.get_task_record,
            "getCredit": self.get_credit,
            "getDownloadUrl": self.get_download_url,
        }

    async def _json_body(self, call: Call) -> Any:
        raw = await read_body(call.request, self.fake.settings.max_body_bytes)
        if raw is None:
            raise ApiError(413)
        return parse_json(raw)

    def _check_body(self, call: Call, body: Any) -> None:
        if not is_json(body):
            raise ApiError(400, NOT_JSON_MSG)
        assert call.op.body is not None
        rejection = call.op.body.reject(body)
        if rejection is not None:
            raise ApiError(rejection.code, rejection.msg)

    async def create_task(self, call: Call) -> Any:
        body = await self._json_body(call)
        call.fault = await self.fake.gate("createTask", call.api_key, *_peek(body))
        account = self.fake.authenticate(call.api_key)
        self.fake.admit_create(account)
        self._check_body(call, body)
        task = await self.fake.create_task(account, body)
        call.task_id = task.task_id
        return {"taskId": task.task_id}

    async def get_task_record(self, call: Call) -> Any:
        call.fault = await self.fake.gate("recordInfo", call.api_key)
        account = self.fake.authenticate(call.api_key)
        params = query(call.scope)
        rejection = call.op.reject_query(params)
        if rejection is not None:
            raise ApiError(rejection.code, rejection.msg)
        call.task_id = params["taskId"]
        return self.fake.record(account, call.task_id)

    async def get_credit(self, call: Call) -> Any:
        call.fault = await self.fake.gate("credit", call.api_key)
        return self.fake.credit(self.fake.authenticate(call.api_key))

    async def get_download_url(self, call: Call) -> Any:
        body = await self._json_body(call)
        call.fault = await self.fake.gate("downloadUrl", call.api_key)
        account = self.fake.authenticate(call.api_key)
        self._check_body(call, body)
        return self.fake.download_url(account, body["url"])

    def wrap(self, op: Operation, handler: Handler) -> Endpoint:
        return UpstreamEndpoint(self.fake, op, handler, self.mirror)


class UpstreamEndpoint:
    """A raw ASGI endpoint (starlette routes it without its per-request wrappers): run the
    handler, turn any error into the envelope (the one place that does), journal the call."""

    def __init__(self, fake: Fake, op: Operation, handler: Handler, mirror: bool) -> None:
        self.fake = fake
        self.op = op
        self.handler = handler
        self.mirror = mirror

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = Call(scope, receive, self.op, bearer(scope))
        content_type = envelope.JSON_BYTES
        try:
            body, status, code = envelope.ok(await self.handler(call)), 200, 200
        except ApiError as exc:
            body, code = envelope.error(exc.code, exc.msg), exc.code
            status = code if self.mirror else 200
        except GatewayFailure as exc:
            call.fault, code, status = str(exc) + ":gateway", None, 502
            body, content_type = envelope.GATEWAY_PAGE, b"text/html; charset=utf-8"
        except ConnectionDropped as exc:
            call.fault = str(exc) + ":drop"
            _journal(self.fake, call, 0, None)
            # A promised body that never comes: the server must close the connection.
            await send({"type": "http.response.start", "status": 200, "headers": DROP_HEADERS})
            return
        except Exception:
            log.exception("unexpected error in %s", self.op.operation_id)
            body, code = envelope.error(500, "Internal server error"), 500
            status = 500 if self.mirror else 200
        _journal(self.fake, call, status, code)
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _journal(fake: Fake, call: Call, status: int, code: int | None) -> None:
    journal = fake.requests
    journal.append(
        RequestEntry(
            journal.next_seq(),
            fake.clock.now_ms(),
            call.op.method,
            call.scope["path"],
            call.op.operation_id,
            call.api_key,
            status,
            code,
            call.task_id,
            call.fault,
        )
    )
