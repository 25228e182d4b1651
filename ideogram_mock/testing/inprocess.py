"""The fake in-process behind respx: every httpx request to a faked provider's host is served
by it, with no socket."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import respx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from respx.models import AllMockedAssertionError, PassThrough

from ideogram_mock.providers import PROVIDERS
from ideogram_mock.providers import hosts as provider_hosts
from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.server.outbound import HttpxSender
from ideogram_mock.settings import Settings
from ideogram_mock.testing.handle import Handle
from ideogram_mock.testing.views import TaskView

T = TypeVar("T")
# Whether the request being resolved came from an async httpx client: set by the router's
# own entry points (respx calls `async_handler` for async clients, `handler` for sync ones).
_ASYNC_CALLER: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ideogram_mock_async_caller", default=False
)


# Set while the fake itself sends a callback: such a request never leaves the process.
_FAKE_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ideogram_mock_fake_sending", default=False
)


class _Router(respx.MockRouter):
    """A respx router that remembers which of its two entry points a request came through,
    and lets requests to hosts nobody routed through to the network (unless strict); the fake's
    own callbacks never go out unrouted."""

    def __init__(self, *, pass_through: bool) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True)
        self.pass_unrouted = pass_through

    def _unrouted(self, request: httpx.Request, error: AllMockedAssertionError) -> None:
        if self.pass_unrouted and not _FAKE_SENDING.get():
            raise PassThrough(f"not faked: {request!r}", request=request, origin=None)  # type: ignore[arg-type]
        raise error

    def handler(self, request: httpx.Request) -> httpx.Response:
        token = _ASYNC_CALLER.set(False)
        try:
            return super().handler(request)
        except AllMockedAssertionError as error:
            self._unrouted(request, error)
            raise
        finally:
            _ASYNC_CALLER.reset(token)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        token = _ASYNC_CALLER.set(True)
        try:
            return await super().async_handler(request)
        except AllMockedAssertionError as error:
            self._unrouted(request, error)
            raise
        finally:
            _ASYNC_CALLER.reset(token)


class _InProcessSender(HttpxSender):
    """Callbacks through httpx (so respx routes them to the test's webhook app), marked so an
    unrouted one fails instead of reaching the network."""

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        token = _FAKE_SENDING.set(True)
        try:
            return await super().__call__(url, body, headers, timeout)
        finally:
            _FAKE_SENDING.reset(token)


def default_hosts(settings: Settings, provider: str = "kie") -> tuple[str, ...]:
    """The base URLs of every provider the settings serve, `provider`'s own first (the URLs
    the fake hands out are built on it)."""
    every = provider_hosts(settings.providers)
    own = tuple(h for h in PROVIDERS[provider].hosts if h in every)
    return own + tuple(h for h in every if h not in own)


class KieMock(Handle):
    """The fake served through respx with no socket, to sync and async httpx clients alike.

    Async clients are served on their own event loop; sync clients through a blocking portal
    (a loop in a helper thread). The fake's callbacks go out through httpx too, so respx sends
    them to whatever the test routed for the callback URL (its own ASGI webhook app, say); an
    unrouted callback is journaled as an error, never sent to the network.
    """

    provider = "kie"

    def __init__(
        self,
        settings: Settings,
        hosts: tuple[str, ...] | None = None,
        provider: str | None = None,
        *,
        pass_through: bool = True,
    ) -> None:
        provider = provider or self.provider
        hosts = hosts or default_hosts(settings, provider)
        settings = settings.replace(public_url=hosts[0], callback_hosts=("*",))
        super().__init__(make_fake(settings, sender=_InProcessSender()), hosts[0], provider)
        self.hosts = hosts
        self.app = create_app(fake=self.fake)
        self.router = _Router(pass_through=pass_through)
        for host in hosts:
            self.router.route(url__startswith=host.rstrip("/") + "/").mock(
                side_effect=self._side_effect
            )
        self._portal_cm: contextlib.AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._active = False
        self._delivery: Future[None] | None = None

    # ---- serving ------------------------------------------------------------------------------
    def _side_effect(self, request: httpx.Request) -> Any:
        if _ASYNC_CALLER.get():
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

    async def afinish(self, task_id: str) -> TaskView:
        return await self._finish(task_id)

    # ---- lifetime -----------------------------------------------------------------------------
    def start(self) -> None:
        """Patch httpx (respx) so requests to the hosts reach this fake; with the real clock,
        deliver callbacks as they fall due (in the portal's loop: no lifespan runs here)."""
        if not self._active:
            self.router.__enter__()
            self._active = True
            if self.fake.clock.mode == "real":
                self._delivery = self.portal.start_task_soon(self.fake.dispatcher.run)

    def stop(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            self._delivery = None
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


class SegmindMock(KieMock):
    """`KieMock` for Segmind clients: https://api.segmind.com first (the URLs it hands out are
    on it), `headers()` with `x-api-key`. The official SDK needs no `base_url` at all."""

    provider = "segmind"


class ScenarioMock(KieMock):
    """`KieMock` for Scenario clients: https://api.cloud.scenario.com first, `headers()` with
    Basic auth. The official SDK needs no `base_url`."""

    provider = "scenario"
