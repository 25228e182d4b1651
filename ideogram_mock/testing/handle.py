"""The public test handle (`KieHandle`, `KieServer`), the fake on a loopback port, and a real
callback receiver. The in-process respx handle is `ideogram_mock.testing.inprocess.KieMock`."""

from __future__ import annotations

import abc
import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import anyio
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from ideogram_mock.core.engine import Fake
from ideogram_mock.core.errors import ControlError
from ideogram_mock.server.app import create_app
from ideogram_mock.server.spec import CONTROL, load_spec
from ideogram_mock.settings import Settings

T = TypeVar("T")
DEFAULT_KEY = "test-key"


class KieHandle(abc.ABC):
    """What a test can do with the fake: drive its clock, script outcomes and faults, and look
    at its tasks, requests and callbacks. The same for `kie_mock` and `kie_server`."""

    api_key = DEFAULT_KEY

    def __init__(self, fake: Fake, base_url: str) -> None:
        self.fake = fake
        self.base_url = base_url

    @abc.abstractmethod
    def _do(self, fn: Callable[[], T]) -> T:
        """Run a function where the fake lives and return its result."""

    @abc.abstractmethod
    def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run an async function where the fake lives and return its result."""

    def headers(self, api_key: str | None = None) -> dict[str, str]:
        """`Authorization: Bearer <key>` for the default (or a given) key."""
        return {"Authorization": f"Bearer {api_key or self.api_key}"}

    # ---- time ---------------------------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move the fake clock; callbacks that fall due are sent first. Returns attempts made."""
        return self._run(lambda: self.fake.advance(seconds))

    def finish(self, task_id: str) -> dict[str, Any]:
        """Run a task to its end (success or fail) and return how the fake sees it."""
        return self._run(lambda: self._finish(task_id))

    async def _finish(self, task_id: str) -> dict[str, Any]:
        return self.fake.task_view(await self.fake.finish(task_id))

    def now_ms(self) -> int:
        return self.fake.clock.now_ms()

    # ---- outcomes and faults ------------------------------------------------------------------
    def add_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Add a rule with the body of `POST /_mock/faults` (checked by the same spec)."""
        body = load_spec(CONTROL).operations["mockAddFault"].body
        assert body is not None
        rejection = body.reject(rule)
        if rejection is not None:
            raise ValueError(rejection.msg)
        try:
            return self._do(lambda: self.fake.rules.add(rule).as_json())
        except ControlError as exc:
            raise ValueError(exc.error) from None

    def fail_next(
        self,
        times: int | None = 1,
        fail_code: str = "500",
        fail_msg: str | None = None,
        **match: str,
    ) -> dict[str, Any]:
        """The next `times` matching tasks fail (then the default success resumes)."""
        rule: dict[str, Any] = {"outcome": "fail", "failCode": fail_code, "times": times}
        if fail_msg is not None:
            rule["failMsg"] = fail_msg
        return self.add_rule({**rule, **_match(match)})

    def fault(
        self,
        endpoint: str = "*",
        code: int | None = None,
        *,
        kind: str = "code",
        times: int | None = 1,
        msg: str | None = None,
        latency_ms: float | None = None,
        jitter_ms: float | None = None,
        **match: str,
    ) -> dict[str, Any]:
        """A request fault: an envelope `code`, `latency`, a `drop`ped connection or a `gateway`."""
        rule: dict[str, Any] = {"endpoint": endpoint, "kind": kind, "times": times}
        for key, value in (
            ("code", code),
            ("msg", msg),
            ("latencyMs", latency_ms),
            ("jitterMs", jitter_ms),
        ):
            if value is not None:
                rule[key] = value
        return self.add_rule({**rule, **_match(match)})

    def clear_faults(self) -> int:
        return self._do(self.fake.rules.clear)

    def maintenance(self, enabled: bool = True) -> None:
        def switch() -> None:
            self.fake.rules.maintenance = enabled

        self._do(switch)

    # ---- accounts -----------------------------------------------------------------------------
    def set_credits(self, credits: int, api_key: str | None = None) -> None:
        self._do(lambda: self.fake.accounts.put(api_key or self.api_key, credits))

    def credits(self, api_key: str | None = None) -> int:
        return self._do(lambda: self.fake.credit(self.fake.authenticate(api_key or self.api_key)))

    # ---- what happened ------------------------------------------------------------------------
    @property
    def tasks(self) -> list[dict[str, Any]]:
        """Every task, oldest first, as the control API shows them."""
        return self._do(lambda: [self.fake.task_view(t) for t in self.fake.store])

    def task(self, task_id: str) -> dict[str, Any]:
        return self._do(lambda: self.fake.task_view(self.fake.task(task_id)))

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request journal: operationId, apiKey, status, code, taskId, fault per request."""
        return self._do(lambda: [e._asdict() for e in self.fake.requests])

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        """Every callback attempt (url, attempt, status, ok, error, headers, body)."""
        return self._do(lambda: [a._asdict() for a in self.fake.callbacks])

    def reset(self) -> None:
        """A fresh fake: no tasks, rules or journals; a manual clock back at its start."""
        self._do(lambda: self.fake.reset(rewind_clock=True))


def _match(match: dict[str, str]) -> dict[str, str]:
    names = {"api_key": "apiKey", "model": "model", "prompt_contains": "promptContains"}
    unknown = set(match) - set(names)
    if unknown:
        raise TypeError(f"unknown match field(s) {sorted(unknown)}; use {sorted(names)}")
    return {names[k]: v for k, v in match.items()}


@dataclass
class RunningServer:
    """A fake served by uvicorn in a background thread."""

    url: str
    fake: Fake
    server: uvicorn.Server
    thread: threading.Thread
    app: Starlette

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_server(
    settings: Settings | None = None,
    prepare: Callable[[Fake], None] | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> RunningServer:
    """Serve a fake on 127.0.0.1 (a free port unless `settings.port` names one). The fake is
    built here, after the port is bound, so the URLs it hands out point at this server;
    `prepare` may alter it before it serves, and `wrap` puts middleware around the app (tests
    use both to serve deliberately broken variants)."""
    settings = settings if settings is not None else Settings(port=0)
    sock = socket.socket(socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    settings = settings.replace(port=sock.getsockname()[1])
    fake = Fake(settings)
    if prepare is not None:
        prepare(fake)
    app = create_app(fake=fake)
    served: ASGIApp = wrap(app) if wrap is not None else app
    config = uvicorn.Config(served, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="ideogram-mock", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake did not start within 10 s")
        time.sleep(0.005)
    return RunningServer(settings.base_url, fake, server, thread, app)


@contextmanager
def running_server(settings: Settings | None = None) -> Iterator[RunningServer]:
    running = start_server(settings)
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Received:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class CallbackReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with `statuses` in turn
    (the last one repeats), e.g. `[500, 500, 200]` to make a sender retry twice."""

    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._cond:
                    index = len(receiver.received)
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, time.time())
                    )
                    receiver._cond.notify_all()
                status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                reply = b'{"code":200,"msg":"success"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self._server.server_address[1]}/callback"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` POSTs have arrived (or raise TimeoutError)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} callbacks in {timeout} s")
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class KieServer(KieHandle):
    """The handle of a fake served on a loopback port: its calls run on the server's loop."""

    def __init__(self, running: RunningServer) -> None:
        super().__init__(running.fake, running.url)
        self.running = running
        self._loop: asyncio.AbstractEventLoop = running.app.state.loop

    def _do(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self._run(run)

    def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(60)

    async def aadvance(self, seconds: float) -> int:
        return await anyio.to_thread.run_sync(self.advance, seconds)

    async def afinish(self, task_id: str) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(self.finish, task_id)

    def close(self) -> None:
        self.running.stop()
