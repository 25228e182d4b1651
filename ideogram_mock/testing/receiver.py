"""A real callback receiver on 127.0.0.1, for tests of callbacks and of webhook clients."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


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
