"""The fake in-process behind respx: every httpx request to the kie hosts is served by it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import respx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ideogram_mock.core.engine import Fake
from ideogram_mock.server.app import create_app
from ideogram_mock.settings import Settings
from ideogram_mock.testing.handle import KieHandle

T = TypeVar("T")
DEFAULT_HOSTS = ("https://api.kie.ai", "https://api.apikley.ru")


def _async_caller() -> bool:
    """Whether respx is resolving this request for an async client (its `aresolve`)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_filename.endswith(("respx/router.py", "respx\\router.py")):
            return code.co_name == "aresolve"
        frame = frame.f_back
    return False


class KieMock(KieHandle):
    """The fake served through respx with no socket, to sync and async httpx clients alike.

    Async clients are served on their own event loop; sync clients through a blocking portal
    (a loop in a helper thread). The fake's callbacks go out through httpx too, so respx sends
    them to whatever the test routed for the callback URL (its own ASGI webhook app, say); an
    unrouted callback is journaled as an error, never sent to the network.
    """

    def __init__(self, settings: Settings, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> None:
        settings = settings.replace(public_url=hosts[0], callback_hosts=("*",))
        super().__init__(Fake(settings), hosts[0])
        self.hosts = hosts
        self.app = create_app(fake=self.fake)
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        for host in hosts:
            self.router.route(url__startswith=host.rstrip("/") + "/").mock(
                side_effect=self._side_effect
            )
        self._portal_cm: contextlib.AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._active = False

    # ---- serving ------------------------------------------------------------------------------
    def _side_effect(self, request: httpx.Request) -> Any:
        if _async_caller():
            return self._serve(request)
        request.read()
        return self.portal.call(self._serve, request)

    async def _serve(self, request: httpx.Request) -> httpx.Response:
        """Run the app on one request (a minimal ASGI driver: no socket, no lifespan)."""
        body = await request.aread()
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "client": ("127.0.0.1", 50000),
        }
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if sent_body:
                return {"type": "http.disconnect"}
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}

        status, headers, parts, complete = 500, [], [], False

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, headers, complete
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                complete = not message.get("more_body", False)

        await self.app(scope, receive, send)
        if not complete:  # a `drop` fault: the server closed the connection mid-answer
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(status, headers=headers, content=b"".join(parts), request=request)

    @property
    def portal(self) -> BlockingPortal:
        if self._portal is None:
            self._portal_cm = start_blocking_portal()
            self._portal = self._portal_cm.__enter__()
        return self._portal

    def _do(self, fn: Callable[[], T]) -> T:
        return fn()

    def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        return self.portal.call(fn)

    async def aadvance(self, seconds: float) -> int:
        """`advance` on the caller's own event loop (for async tests and webhook apps)."""
        return await self.fake.advance(seconds)

    async def afinish(self, task_id: str) -> dict[str, Any]:
        return await self._finish(task_id)

    # ---- lifetime -----------------------------------------------------------------------------
    def start(self) -> None:
        """Patch httpx (respx) so requests to the hosts reach this fake."""
        if not self._active:
            self.router.__enter__()
            self._active = True

    def stop(self) -> None:
        if self._active:
            self.router.__exit__(None, None, None)
            self._active = False
        self.router.reset()

    def close(self) -> None:
        self.stop()
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = self._portal = None

    def __enter__(self) -> KieMock:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
