"""Routes built from a spec: one per path, each operation bound to a handler by operationId."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from ideogram_mock.server.spec import Operation, Spec

# A request-response function, or a raw ASGI app (routed without starlette's wrappers).
Endpoint = Callable[[Request], Awaitable[Response]] | ASGIApp
Wrap = Callable[[Operation, Any], Endpoint]


class SpecMismatch(RuntimeError):
    """The handlers and the spec's operations do not pair up one to one."""


def build_routes(
    spec: Spec,
    handlers: Mapping[str, Any],
    wrap: Wrap,
    only: Collection[str] | None = None,
) -> list[Route]:
    """A route per spec operation (optionally only some); fails unless handlers match exactly."""
    missing = sorted(set(spec.operations) - set(handlers))
    extra = sorted(set(handlers) - set(spec.operations))
    if missing or extra:
        raise SpecMismatch(
            f"{spec.name}: operations without a handler {missing}, handlers without an "
            f"operation {extra}"
        )
    by_path: dict[str, dict[str, Endpoint]] = {}
    for op in spec.operations.values():
        if only is None or op.operation_id in only:
            by_path.setdefault(op.path, {})[op.method] = wrap(op, handlers[op.operation_id])
    routes = []
    for path, endpoints in by_path.items():
        if len(endpoints) == 1:
            ((method, endpoint),) = endpoints.items()
            routes.append(Route(path, endpoint=endpoint, methods=[method]))
        else:
            # One route per path, so that a 405 names every method the path has in `Allow`.
            routes.append(Route(path, endpoint=ByMethod(endpoints), methods=list(endpoints)))
    return routes


class ByMethod:
    """The operations of one path, dispatched by method (HEAD as GET)."""

    def __init__(self, endpoints: Mapping[str, Endpoint]) -> None:
        self.apps: dict[str, ASGIApp] = {
            method: _asgi(endpoint) for method, endpoint in endpoints.items()
        }
        if "GET" in self.apps:
            self.apps.setdefault("HEAD", self.apps["GET"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.apps[scope["method"]](scope, receive, send)


def _asgi(endpoint: Endpoint) -> ASGIApp:
    """An endpoint as starlette's Route would run it: a function is a request-response one."""
    if inspect.isfunction(endpoint) or inspect.ismethod(endpoint):
        return request_response(endpoint)
    return cast(ASGIApp, endpoint)
