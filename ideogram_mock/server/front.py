"""The app's front door: a provider operation goes straight to its endpoint.

Starlette routes a request through two middlewares and a scan of every route, testing a regex
per route. A provider operation needs none of that: its endpoint is raw ASGI and answers its
own errors in the provider's envelope (see `endpoint.py`). So `FakeApp` looks the path up in a
table made once from the routes (a static path, or a path whose only parameter is its last
segment) and calls the endpoint with the scope starlette would have given it. Anything else —
a method the path does not take, the control API, files, unknown paths, a root path, lifespan
— goes through starlette as before. A path is in the table only when no other route could
match it, so the table never answers where starlette would have answered otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ideogram_mock.server.endpoint import ProviderEndpoint
from ideogram_mock.server.routes import ByMethod


def _raw(route: BaseRoute) -> bool:
    """A route whose every endpoint is a provider's raw ASGI endpoint."""
    if not isinstance(route, Route) or not route.methods:
        return False
    endpoint = route.endpoint
    if isinstance(endpoint, ByMethod):
        return all(isinstance(app, ProviderEndpoint) for app in endpoint.apps.values())
    return isinstance(endpoint, ProviderEndpoint) and route.app is endpoint


def _segments(path: str) -> list[str | None]:
    """A route path's segments, None for a parameter."""
    return [None if s.startswith("{") else s for s in path.split("/")]


def _overlap(a: list[str | None], b: list[str | None]) -> bool:
    """Whether some path could match both segment patterns."""
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


class Table:
    """Paths that can skip starlette: static ones, and those with one parameter, last."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.static: dict[str, Route] = {}
        self.last_param: dict[str, tuple[Route, str]] = {}
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
            elif params == [len(segments) - 1] and route.param_convertors:
                (name,) = route.param_convertors
                if type(route.param_convertors[name]).__name__ == "StringConvertor":
                    self.last_param[route.path[: route.path.rindex("/") + 1]] = (route, name)

    def find(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        route = self.static.get(path)
        if route is not None:
            return route, {}
        if self.last_param:
            cut = path.rfind("/") + 1
            if cut < len(path):
                hit = self.last_param.get(path[:cut])
                if hit is not None:
                    return hit[0], {hit[1]: path[cut:]}
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
