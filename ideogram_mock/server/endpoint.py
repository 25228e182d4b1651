"""The raw ASGI endpoint every provider operation runs in: call the provider's handler, let the
provider render its answer or its error (the one place per provider that does), journal it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ideogram_mock.core.engine import Fake
from ideogram_mock.core.errors import ConnectionDropped, DomainError, GatewayFailure
from ideogram_mock.core.journal import RequestEntry
from ideogram_mock.server import logs
from ideogram_mock.server.httpio import BodyTimeout, query
from ideogram_mock.server.logs import key_hash
from ideogram_mock.server.spec import Operation
from ideogram_mock.server.writes import HANG_UP

log = logging.getLogger("ideogram_mock")
DROP_HEADERS = [(b"content-length", b"64"), (b"content-type", b"application/json"), HANG_UP]
GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
HTML = b"text/html; charset=utf-8"


@dataclass
class Call:
    """One request on its way through: what the journal records about it."""

    scope: Scope
    receive: Receive
    op: Operation
    api_key: str | None
    fault: str | None = None
    task_id: str | None = None
    warning: str | None = None  # what the fake let pass (an unknown field it ignored)


@dataclass(slots=True)
class Answer:
    """What goes back: status, body, media type, the provider's own code (for the journal) and
    any headers of its own."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"
    code: int | None = None
    headers: list[tuple[bytes, bytes]] | None = None


Handler = Callable[[Call], Awaitable[Any]]


class Dialect(Protocol):
    """A provider's web side, as the endpoint needs it."""

    name: str

    def api_key(self, scope: Scope) -> str | None:
        """The caller's key, read from the request's headers."""
        ...

    def answer(self, result: Any) -> Answer:
        """A handler's result in the provider's envelope."""
        ...

    def refuse(self, exc: DomainError) -> Answer:
        """An error in the provider's envelope."""
        ...

    def internal_error(self) -> Answer:
        """The provider's answer to a bug in the fake (logged with its traceback)."""
        ...


CLIENT_GONE = "the client disconnected before its request was read"
# The parameters that name a task, in any provider's words (path or query).
TASK_PARAMETERS = ("taskId", "requestId", "jobId")


def _task_named_by(op: Operation) -> Callable[[Scope], str | None] | None:
    """Where an operation's request names its task, read ahead with its documents (one round
    trip on Redis instead of two); None when it names none. Only for reads (GET): an operation
    that changes a task must read it after its own waits (its body, a latency fault), never a
    copy from before them."""
    if op.method.upper() not in ("GET", "HEAD"):
        return None
    for param in op.parameters:
        if param.name not in TASK_PARAMETERS:
            continue
        name = param.name
        if param.location == "path":
            return lambda scope: scope.get("path_params", {}).get(name)
        if param.location == "query":
            return lambda scope: query(scope).get(name) or None
    return None


async def hang_up(send: Send) -> None:
    """Close the connection without an answer: a promised body that never comes makes the
    server close it, and the head's mark keeps the fake's server from sending even that
    (`writes.HANG_UP`; in-process, the transport raises on the missing body)."""
    await send({"type": "http.response.start", "status": 200, "headers": DROP_HEADERS})


class HangUp(Response):
    """A starlette answer that is no answer: the connection is closed (see hang_up)."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await hang_up(send)


class RawEndpoint:
    """A raw ASGI endpoint that answers every request it is given, its errors included
    (starlette routes it without its per-request wrappers, and the front door calls it
    without starlette: see `front.py`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class ProviderEndpoint(RawEndpoint):
    """A provider operation's endpoint: the handler's result or error in the provider's words."""

    def __init__(self, fake: Fake, dialect: Dialect, op: Operation, handler: Handler) -> None:
        self.fake = fake
        self.dialect = dialect
        self.op = op
        self.handler = handler
        # Bound once: these run on every request.
        self._api_key = dialect.api_key
        self._answer = dialect.answer
        self._names_task = _task_named_by(op) if fake.store.durable else None
        # The start of this operation's request lines, made once per log.
        self._log_head: tuple[logs.Sink | None, bytes] = (None, b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        call = Call(scope, receive, self.op, self._api_key(scope))
        task_id = None if self._names_task is None else self._names_task(scope)
        holding = self.fake.holding(call.api_key, task_id)
        try:
            waiting = holding.start()  # the request's documents, read ahead
            if waiting is not None:
                await waiting
        except Exception:  # the store failed: the provider's answer to a failure of its own
            log.exception("reading ahead for %s failed", self.op.operation_id)
            holding.__exit__()
            await self._send(call, self.dialect.internal_error(), started, send)
            return
        except BaseException:  # (cancelled: no hold outlives its request)
            holding.__exit__()
            raise
        try:
            await self._serve(call, started, send)
        finally:
            holding.__exit__()

    async def _serve(self, call: Call, started: float, send: Send) -> None:
        try:
            result = await self.handler(call)
            answer = result if type(result) is Answer else self._answer(result)
        except GatewayFailure as exc:
            call.fault = str(exc) + ":gateway"
            answer = Answer(502, GATEWAY_PAGE, HTML)
        except ConnectionDropped as exc:
            call.fault = str(exc) + ":drop"
            self._journal(call, 0, None, started)
            await hang_up(send)
            return
        except (BodyTimeout, ClientDisconnect) as exc:
            # Nothing is answered: the client is gone, or its body never came.
            call.warning = str(exc) if isinstance(exc, BodyTimeout) else CLIENT_GONE
            self._journal(call, 0, None, started)
            await hang_up(send)
            return
        except DomainError as exc:
            answer = self.dialect.refuse(exc)
        except Exception:
            log.exception("unexpected error in %s", self.op.operation_id)
            answer = self.dialect.internal_error()
        await self._send(call, answer, started, send)

    async def _send(self, call: Call, answer: Answer, started: float, send: Send) -> None:
        self._journal(call, answer.status, answer.code, started)
        headers = [
            (b"content-type", answer.content_type),
            (b"content-length", str(len(answer.body)).encode()),
        ]
        if answer.headers:
            headers += answer.headers
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _journal(self, call: Call, status: int, code: int | None, started: float) -> None:
        try:
            journal = self.fake.requests
            sink = logs.SINK
            if sink is not None:
                kept_for, head = self._log_head
                if kept_for is not sink:
                    fixed = {
                        "provider": self.dialect.name,
                        "operation": self.op.operation_id,
                        "method": self.op.method,
                    }
                    head = sink.head("request", fixed)
                    self._log_head = (sink, head)
                sink.emit_after(
                    head,
                    {
                        "path": call.scope["path"],
                        "key": key_hash(call.api_key),
                        "taskId": call.task_id,
                        "status": status,
                        "code": code,
                        "fault": call.fault,
                        "warning": call.warning,
                        # (to 0.01 ms: int() and a division cost a third of round(x, 2))
                        "latencyMs": int((time.perf_counter() - started) * 100_000 + 0.5) / 100,
                    },
                )
            journal.append(
                RequestEntry(
                    0,  # the journal numbers its entries
                    self.fake.clock.now_ms(),
                    self.dialect.name,
                    call.op.method,
                    call.scope["path"],
                    call.op.operation_id,
                    call.api_key,
                    status,
                    code,
                    call.task_id,
                    call.fault,
                    call.warning,
                )
            )
        except Exception:  # (the store failed: the answer goes out all the same)
            log.exception("journaling a request to %s failed", self.op.operation_id)
