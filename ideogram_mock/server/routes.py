"""Routes built from a spec: one per operation, bound to a handler by operationId."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

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
    return [
        Route(op.path, endpoint=wrap(op, handlers[op.operation_id]), methods=[op.method])
        for op in spec.operations.values()
        if only is None or op.operation_id in only
    ]
