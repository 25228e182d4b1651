"""The fake in-process: every httpx request to a faked provider's host is served by it from
httpx's own transport (`transport.py`), with no socket; respx stays patched in below it for the
test's own routes (a webhook app for the callback URL) and for hosts nobody faked."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import respx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from respx.mocks import Mocker
from respx.models import AllMockedAssertionError, PassThrough

from ideogram_mock.providers import PROVIDERS
from ideogram_mock.providers import hosts as provider_hosts
from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.server.outbound import HttpxSender
from ideogram_mock.settings import Settings
from ideogram_mock.testing import transport
from ideogram_mock.testing.handle import Handle, _refusals, _view
from ideogram_mock.testing.views import TaskView

T = TypeVar("T")

# Set while the fake itself sends a callback: such a request never leaves the process.
_FAKE_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ideogram_mock_fake_sending", default=False
)


class _Router(respx.MockRouter):
    """The test's own respx routes: requests to hosts nobody routed go through to the network
    (unless strict); the fake's own callbacks never go out unrouted."""

    def __init__(self, *, pass_through: bool) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True)
        self.pass_unrouted = pass_through

    def _unrouted(self, request: httpx.Request, error: AllMockedAssertionError) -> None:
        # Another respx router patched in (a test's own `respx.mock`) decides next, by its
        # own rules; the network is reached only when nobody else routes.
        if self.pass_unrouted and not _FAKE_SENDING.get() and not self._others():
            raise PassThrough(f"not faked: {request!r}", request=request, origin=None)  # type: ignore[arg-type]
        raise error

    def _others(self) -> bool:
        return any(r is not self for m in Mocker.registry.values() for r in m.routers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handler(request)
        except AllMockedAssertionError as error:
            self._unrouted(request, error)
            raise

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().async_handler(request)
        except AllMockedAssertionError as error:
            self._unrouted(request, error)
            raise


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


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class KieMock(Handle):
    """The fake served in-process with no socket, to sync and async httpx clients alike.

    Async clients are served on their own event loop. With a manual clock, sync clients are
    served on a loop of the calling thread's own (no thread hop); with the real clock, or when
    the calling thread is already running a loop (a sync client inside an async test), through
    a blocking portal (a loop in a helper thread). The fake's callbacks go out through httpx
    too, so respx sends them to whatever the test routed for the callback URL (its own ASGI
    webhook app, say); an unrouted callback is journaled as an error, never sent to the network.
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
        # The hosts it answers as its own: all but another provider's, given or not (those it
        # yields to a fake of that provider's, whichever started first).
        others = {
            transport.base_key(h)
            for name, p in PROVIDERS.items()
            if name != provider
            for h in p.hosts
        }
        self._own_hosts = tuple(h for h in hosts if transport.base_key(h) not in others)
        settings = settings.replace(public_url=hosts[0], callback_hosts=("*",))
        super().__init__(make_fake(settings, sender=_InProcessSender()), hosts[0], provider)
        self.hosts = hosts
        self.app = create_app(fake=self.fake)
        self.router = _Router(pass_through=pass_through)
        self._portal_cm: contextlib.AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._active = False
        self._delivery: Future[None] | None = None
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._loops_lock = threading.Lock()
        self._serial = threading.RLock()

    # ---- serving ------------------------------------------------------------------------------
    def serve_sync(self, request: httpx.Request, root: str = "") -> httpx.Response:
        request.read()
        return self._run(lambda: self._serve(request, root))

    async def serve_async(self, request: httpx.Request, root: str = "") -> httpx.Response:
        await request.aread()
        return await self._serve(request, root)

    async def _serve(self, request: httpx.Request, root: str) -> httpx.Response:
        """Run the app on one request (a minimal ASGI driver: no socket, no lifespan); `root`:
        the path of the base URL it came by (a gateway's `/kie`), the app's root path."""
        body = request.content
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": root,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": transport.origin_of(url)[1:],
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
        # As a real transport answers: a stream the client reads (and times) itself.
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(b"".join(parts)),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    @property
    def portal(self) -> BlockingPortal:
        if self._portal is None:
            self._portal_cm = start_blocking_portal()
            self._portal = self._portal_cm.__enter__()
        return self._portal

    def _do(self, fn: Callable[[], T]) -> T:
        return fn()

    def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run where the fake can: on this thread's own loop when the clock is manual and the
        thread runs no loop of its own; else in the portal's loop."""
        if self.fake.clock.mode == "manual" and not _loop_running():
            # One at a time, as the portal's one loop did: the fake is not for two threads
            # at once.
            with self._serial:
                return self._own_loop().run_until_complete(fn())
        return self.portal.call(fn)

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = self._local.loop = asyncio.new_event_loop()
            with self._loops_lock:
                self._loops.append(loop)
        return loop

    def advance(self, seconds: float) -> int:
        """Move the fake clock; callbacks that fall due are sent first. Returns attempts made.
        A move that sends nothing is made right here, whatever thread or loop calls."""
        with _refusals():
            if self.fake.advance_quietly(seconds):
                return 0
        return super().advance(seconds)

    def finish(self, task_id: str) -> TaskView:
        """Run a task to its end (success or fail) and return how the fake sees it."""
        with _refusals():
            view = self._finish_quietly(task_id)
        return super().finish(task_id) if view is None else view

    def _finish_quietly(self, task_id: str) -> TaskView | None:
        task = self.fake.task(task_id)
        if self.fake.advance_quietly(max(0, task.complete_ms - self.now_ms()) / 1000):
            return _view(self.fake, task)
        return None

    async def aadvance(self, seconds: float) -> int:
        """`advance` on the caller's own event loop (for async tests and webhook apps)."""
        if self.fake.advance_quietly(seconds):
            return 0
        return await self.fake.advance(seconds)

    async def afinish(self, task_id: str) -> TaskView:
        with _refusals():
            view = self._finish_quietly(task_id)
        return await self._finish(task_id) if view is None else view

    # ---- lifetime -----------------------------------------------------------------------------
    def start(self) -> None:
        """Patch httpx so requests to the hosts reach this fake (and respx under it for the
        test's own routes); with the real clock, deliver callbacks as they fall due (in the
        portal's loop: no lifespan runs here)."""
        if not self._active:
            self.router.__enter__()
            transport.attach(self, self.hosts, self._own_hosts)
            self._active = True
            if self.fake.clock.mode == "real":
                self._delivery = self.portal.start_task_soon(self.fake.dispatcher.run)

    def stop(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            self._delivery = None
        if self._active:
            transport.detach(self)
            self.router.__exit__(None, None, None)
            self._active = False
        self.router.reset()

    def close(self) -> None:
        self.stop()
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = self._portal = None
        with self._loops_lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            if loop.is_running() or loop.is_closed():
                continue
            if not _loop_running():
                loop.run_until_complete(self.fake.dispatcher.aclose())
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

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
