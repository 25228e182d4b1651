"""create_app: wiring only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ideogram_mock.core.engine import Fake
from ideogram_mock.core.hosts import HostPolicy
from ideogram_mock.providers import selected
from ideogram_mock.server import logs
from ideogram_mock.server.control import Control
from ideogram_mock.server.endpoint import ProviderEndpoint
from ideogram_mock.server.front import FakeApp
from ideogram_mock.server.httpio import WATCH
from ideogram_mock.server.outbound import HttpFetcher, HttpxSender
from ideogram_mock.server.routes import build_routes
from ideogram_mock.server.spec import CONTROL, Operation, load_spec
from ideogram_mock.settings import Settings
from ideogram_mock.stores import open_store

log = logging.getLogger("ideogram_mock")
# The first pause before a failed background job starts again.
RESTART_PAUSE_S = 0.5
# Served even with the control API off: result files, health and the specs.
PUBLIC_OPS = ("downloadFile", "health", "openapiDocument")


def make_fake(settings: Settings | None = None, **options: Any) -> Fake:
    """The core with the dialects of the providers `settings` selects (all by default), sending
    callbacks and fetching inputs over httpx; `options` go to `Fake` (clock, sender, fetcher,
    store)."""
    settings = settings if settings is not None else Settings()
    dialects = [p.make_dialect(settings) for p in selected(settings.providers)]
    options.setdefault("sender", HttpxSender())
    options.setdefault("fetcher", HttpFetcher(HostPolicy(settings.fetch_hosts).allows))
    if "store" not in options:
        options["store"] = open_store(settings.store)
    return Fake(settings, dialects, **options)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    msg = "Not found" if status == 404 else "Method not allowed"
    if request.url.path.startswith(("/v1/", "/v2/", "/_mock/")):
        # Segmind's paths, or the control API's: their error shape.
        body = orjson.dumps({"error": msg})
    else:
        # kie's paths, or no provider's: the envelope most clients can read.
        body = orjson.dumps({"code": status, "msg": msg, "data": None})
    response = Response(body, status_code=status, media_type="application/json")
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # 405 carries Allow (RFC 9110)
    return response


async def _kept(job: Callable[[], Awaitable[None]], name: str) -> None:
    """Run a background job for the app's whole life: when it fails (its store gone for a
    moment), log why and start it again after a pause (doubling to 30 s while it keeps
    failing), instead of ending the other jobs with it and leaving the server answering
    without them."""
    pause = RESTART_PAUSE_S
    while True:
        started = time.monotonic()
        try:
            await job()
        except Exception:
            if time.monotonic() - started > 60:
                pause = RESTART_PAUSE_S  # it ran a good while: a new failure, not the same
            log.exception("the %s failed; starting it again in %g s", name, pause)
        await anyio.sleep(pause)
        pause = min(pause * 2, 30.0)


async def _flush_logs() -> None:
    """Write the buffered request lines out every 0.2 s, so a quiet server's log is current."""
    while True:
        await anyio.sleep(0.2)
        logs.flush()


async def _flush_journals(fake: Fake) -> None:
    """Write batched journal entries to a durable store every 0.2 s, so other processes
    sharing it see a quiet server's last requests."""
    while True:
        await anyio.sleep(0.2)
        fake.store.flush()


def provider_routes(fake: Fake) -> list[Route]:
    """Every selected provider's operations, at its own paths, from its own spec."""
    routes: list[Route] = []
    for provider in selected(fake.settings.providers):
        api = provider.make_api(fake)

        def wrap(op: Operation, handler: Any, api: Any = api) -> ProviderEndpoint:
            return ProviderEndpoint(fake, api, op, handler)

        routes += build_routes(load_spec(provider.spec), api.handlers(), wrap)
    return routes


def create_app(settings: Settings | None = None, *, fake: Fake | None = None) -> FakeApp:
    """The fake as an ASGI app: every selected provider's API at its own paths, the control
    API (unless `admin` is off) and the result files, all routed from the specs in `openapi/`.
    Pass a `Fake` (see `make_fake`) to share or inspect its state; `app.state.fake` holds it.
    """
    if fake is None:
        fake = make_fake(settings)
    control = Control(fake)
    routes = provider_routes(fake)
    routes += build_routes(
        load_spec(CONTROL),
        control.handlers(),
        control.wrap,
        only=None if fake.settings.admin else PUBLIC_OPS,
    )
    # Result files are fetched once per image: scan them first (no other path can match
    # theirs, so the order changes only how soon starlette finds them).
    routes.sort(key=lambda route: not route.path.startswith("/files/"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Test handles run their calls on the loop that serves the app (kie_server).
        app.state.loop = asyncio.get_running_loop()
        try:
            async with anyio.create_task_group() as tg:
                if fake.clock.mode != "manual":
                    tg.start_soon(_kept, fake.dispatcher.run, "callback dispatcher")
                # (times out request bodies that never arrive)
                tg.start_soon(_kept, WATCH.run, "body timeout sweeper")
                if fake.store.durable:
                    tg.start_soon(_kept, partial(_flush_journals, fake), "journal flusher")
                if logs.SINK is not None:
                    tg.start_soon(_kept, _flush_logs, "log flusher")
                yield
                tg.cancel_scope.cancel()
        finally:
            logs.flush()
            fake.store.flush()
            # In-flight callback attempts were cancelled and released; what is pending stays
            # in a durable store for the next start.
            await fake.dispatcher.aclose()

    app = FakeApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    # A trailing slash names no operation: answer 404 in the provider's shape rather than a
    # 307 to another path (no provider documents one).
    app.router.redirect_slashes = False
    app.state.fake = fake
    return app
