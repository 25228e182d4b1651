"""The fake on a loopback port: uvicorn in a background thread, and its handle."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from ideogram_mock.core.engine import Fake
from ideogram_mock.server.accept import EagerServer
from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.settings import Settings
from ideogram_mock.testing.handle import Handle
from ideogram_mock.testing.views import TaskView

T = TypeVar("T")


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
    fake = make_fake(settings)
    if prepare is not None:
        prepare(fake)
    app = create_app(fake=fake)
    served: ASGIApp = wrap(app) if wrap is not None else app
    config = uvicorn.Config(served, log_level="warning", lifespan="on", access_log=False)
    # (served as `serve` serves: see server/accept.py, writes.py)
    server = EagerServer(config, head_timeout_s=settings.body_timeout_s)
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


class KieServer(Handle):
    """The handle of a fake served on a loopback port: its calls run on the server's loop."""

    def __init__(self, running: RunningServer, provider: str = "kie") -> None:
        super().__init__(running.fake, running.url, provider)
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

    async def afinish(self, task_id: str) -> TaskView:
        return await anyio.to_thread.run_sync(self.finish, task_id)

    def close(self) -> None:
        self.running.stop()
