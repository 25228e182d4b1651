"""Public helpers for tests: the fake on a loopback port, and a real callback receiver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import uvicorn

from .app import create_app
from .fake import Fake
from .settings import Settings


@dataclass
class RunningServer:
    """A fake served by uvicorn in a background thread."""

    url: str
    fake: Fake
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_server(settings: Settings | None = None, fake: Fake | None = None) -> RunningServer:
    """Serve a fake on 127.0.0.1 (a free port unless `settings.port` names one)."""
    settings = settings if settings is not None else Settings(port=0)
    sock = socket.socket(socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    settings = settings.replace(port=sock.getsockname()[1])
    if fake is None:
        fake = Fake(settings)
    app = create_app(fake=fake)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
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
    return RunningServer(settings.base_url, fake, server, thread)


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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

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
