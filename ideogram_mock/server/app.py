"""create_app: wiring only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ideogram_mock.core.engine import Fake
from ideogram_mock.providers.kie import envelope
from ideogram_mock.providers.kie.api import Upstream
from ideogram_mock.server.control import Control
from ideogram_mock.server.routes import build_routes
from ideogram_mock.server.spec import CONTROL, UPSTREAM, load_spec
from ideogram_mock.settings import Settings

FILES_ONLY = ("downloadFile",)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    msg = "Not found" if status == 404 else "Method not allowed"
    response = envelope.json_response(envelope.error(status, msg), status)
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # 405 carries Allow (RFC 9110)
    return response


def create_app(settings: Settings | None = None, *, fake: Fake | None = None) -> Starlette:
    """The fake as an ASGI app: the upstream API, the control API (unless `admin` is off) and
    the result files, all routed from the specs in `openapi/`. Pass a `Fake` to share or inspect
    its state; `app.state.fake` holds it either way.
    """
    if fake is None:
        fake = Fake(settings if settings is not None else Settings())
    upstream = Upstream(fake)
    control = Control(fake)
    routes = build_routes(load_spec(UPSTREAM), upstream.handlers(), upstream.wrap)
    routes += build_routes(
        load_spec(CONTROL),
        control.handlers(),
        control.wrap,
        only=None if fake.settings.admin else FILES_ONLY,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Test handles run their calls on the loop that serves the app (kie_server).
        app.state.loop = asyncio.get_running_loop()
        try:
            if fake.clock.mode == "manual":
                yield
                return
            async with anyio.create_task_group() as tg:
                tg.start_soon(fake.dispatcher.run)
                yield
                tg.cancel_scope.cancel()
        finally:
            await fake.dispatcher.aclose()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.fake = fake
    return app
