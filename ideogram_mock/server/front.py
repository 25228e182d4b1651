"""The app's front door: a provider operation, or a result file, goes straight to its endpoint.

Starlette routes a request through two middlewares and a scan of every route, testing a regex
per route. A provider operation needs none of that: its endpoint is raw ASGI and answers its
own errors in the provider's envelope (see `endpoint.py`), and so does the result files' (see
`control.FileDownload`). So `FakeApp` looks the path up in a table made once from the routes
(a static path, or a path whose parameters all come last: `/v2/requests/{id}`,
`/files/{taskId}/{expires}/{sig}/{name}`) and calls the endpoint with the scope starlette would
have given it. Anything else — a method the path does not take, the control API, unknown
paths, a root path, lifespan — goes through starlette as before. A path is in the table only
when no other route could match it, so the table never answers where starlette would have
answered otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ideogram_mock.server.endpoint import RawEndpoint
from ideogram_mock.server.routes import ByMethod


def _raw(route: BaseRoute) -> bool:
    """A route whose every endpoint is raw ASGI and answers its own errors."""
    if not isinstance(route, Route) or not route.methods:
        return False
    endpoint = route.endpoint
    if isinstance(endpoint, ByMethod):
        return all(isinstance(app, RawEndpoint) for app in endpoint.apps.values())
    return isinstance(endpoint, RawEndpoint) and route.app is endpoint


def _segments(path: str) -> list[str | None]:
    """A route path's segments, None for a parameter."""
    return [None if s.startswith("{") else s for s in path.split("/")]


def _overlap(a: list[str | None], b: list[str | None]) -> bool:
    """Whether some path could match both segment patterns."""
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


class Table:
    """Paths that can skip starlette: static ones, and those whose parameters all come last
    (`/v2/requests/{id}`, `/files/{taskId}/{expires}/{sig}/{name}`)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.static: dict[str, Route] = {}
        # (the static part up to its last "/", how many parameters follow): the route, and
        # its parameters' names in order
        self.trailing: dict[tuple[str, int], tuple[Route, tuple[str, ...]]] = {}
        self.counts: tuple[int, ...] = ()  # the parameter counts `trailing` holds
        if not all(isinstance(r, Route) for r in routes):
            return  # a mount or the like could match anything: keep starlette's scan
        patterns = [(route, _segments(route.path)) for route in routes if isinstance(route, Route)]
        for route, segments in patterns:
            if not _raw(route):
                continue
            if any(r is not route and _overlap(s, segments) for r, s in patterns):
                continue  # another route could match its paths too
            params = [i for i, s in enumerate(segments) if s is None]
            if not params:
                self.static[route.path] = route
                continue
            count = len(params)
            if params != list(range(len(segments) - count, len(segments))):
                continue  # a parameter before a static segment: starlette's regex finds it
            parts = route.path.split("/")
            names = tuple(p.strip("{}") for p in parts[-count:])
            convertors = route.param_convertors
            if set(names) == set(convertors) and all(
                type(convertors[n]).__name__ == "StringConvertor" for n in names
            ):
                self.trailing[("/".join(parts[:-count]) + "/", count)] = (route, names)
        self.counts = tuple(sorted({count for _, count in self.trailing}))

    def find(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        route = self.static.get(path)
        if route is not None:
            return route, {}
        for count in self.counts:
            if count == 1:  # (nearly every such path: one id at the end)
                head, slash, last = path.rpartition("/")
                hit = self.trailing.get((head + "/", 1)) if slash and last else None
                if hit is not None:
                    return hit[0], {hit[1][0]: last}
                continue
            parts = path.rsplit("/", count)
            if len(parts) == count + 1 and all(parts[1:]):  # a string parameter is never empty
                hit = self.trailing.get((parts[0] + "/", count))
                if hit is not None:
                    return hit[0], dict(zip(hit[1], parts[1:], strict=True))
        return None


class FakeApp(Starlette):
    """Starlette, with provider operations dispatched from a table (see the module's doc)."""

    _table: Table | None = None
    _indexed = (-1, -1)  # how many routes and middlewares the table was made from

    def _index(self) -> Table:
        # A middleware added to the app must see every request: then starlette routes all.
        routes = [] if self.user_middleware else self.router.routes
        table = self._table = Table(routes)
        self._indexed = (len(self.router.routes), len(self.user_middleware))
        return table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            table = self._table
            if table is None or self._indexed != (
                len(self.router.routes),
                len(self.user_middleware),
            ):
                table = self._index()
            found = table.find(scope["path"])
            if found is not None:
                route, params = found
                if scope["method"] in route.methods:  # type: ignore[operator]
                    scope["app"] = self
                    scope["router"] = self.router
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = params
                    await route.app(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)
