from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match

from ideogram_mock.server.app import create_app
from ideogram_mock.server.front import FakeApp
from ideogram_mock.server.routes import SpecMismatch, build_routes
from ideogram_mock.server.spec import load_spec
from ideogram_mock.settings import Settings


def test_routes_start_up_fails_when_a_handler_is_missing_or_extra() -> None:
    spec = load_spec()
    handlers = {op: object() for op in spec.operations}
    assert len(build_routes(spec, handlers, lambda op, h: h)) == 4
    missing = dict(handlers)
    missing.pop("createTask")
    with pytest.raises(SpecMismatch, match="createTask"):
        build_routes(spec, missing, lambda op, h: h)
    with pytest.raises(SpecMismatch, match="cancelTask"):
        build_routes(spec, {**handlers, "cancelTask": object()}, lambda op, h: h)


def test_routes_only_keeps_the_named_operations_but_still_checks_all() -> None:
    spec = load_spec()
    handlers = {op: object() for op in spec.operations}
    routes = build_routes(spec, handlers, lambda op, h: h, only=("getCredit",))
    assert [r.path for r in routes] == ["/api/v1/chat/credit"]


def _sent_elsewhere(app: FakeApp, paths: Sequence[str]) -> list[str]:
    """Paths the front door's table sends to another route than starlette's own scan would."""
    table = app._index()
    wrong = []
    for path in paths:
        found = table.find(path)
        if found is None:
            continue
        scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        first = next(r for r in app.router.routes if r.matches(scope)[0] is not Match.NONE)
        if first is not found[0]:
            wrong.append(path)
    return wrong


def _client(app: FakeApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    )


def test_front_door_sends_every_path_where_starlettes_scan_would() -> None:
    app = create_app(Settings(clock="manual"))
    assert isinstance(app, FakeApp)
    paths = set()
    for route in app.router.routes:
        path = getattr(route, "path", "/")
        for filler in ("x1", "status", "action", "upload", ""):
            filled = "/".join(filler if s.startswith("{") else s for s in path.split("/"))
            paths |= {filled, filled + "/", filled + "/x2", filled.rsplit("/", 1)[0]}
    assert _sent_elsewhere(app, sorted(paths)) == []
    table = app._index()
    # The hot provider paths do skip starlette's scan.
    assert "/api/v1/jobs/recordInfo" in table.static
    assert table.find("/v2/requests/abc") is not None
    assert table.find("/v2/requests/abc/status") is None  # with a rival route: starlette's
    assert table.find("/_mock/tasks") is None  # the control API: starlette's


@pytest.mark.anyio
async def test_front_door_keeps_a_405_and_a_404_in_the_providers_shape() -> None:
    async with _client(create_app(Settings(clock="manual"))) as http:
        wrong_method = await http.delete(
            "/api/v1/jobs/recordInfo", headers={"Authorization": "Bearer k"}
        )
        assert wrong_method.status_code == 405
        assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD"}
        assert wrong_method.json() == {"code": 405, "msg": "Method not allowed", "data": None}
        missing = await http.get("/api/v1/jobs/recordInfo/", headers={"Authorization": "Bearer k"})
        assert (missing.status_code, missing.json()["code"]) == (404, 404)
        # A path parameter reaches the operation through the table as through starlette.
        unknown = await http.get("/v2/requests/abc", headers={"x-api-key": "SG_k"})
        assert (unknown.status_code, unknown.json()) == (404, {"error": "Request abc not found"})


def test_result_files_route_is_scanned_first_and_matches_nothing_else() -> None:
    app = create_app(Settings(clock="manual"))
    first = app.router.routes[0]
    assert getattr(first, "path", "").startswith("/files/")
    scope = {"type": "http", "path": "/files/t/1/s/0.png", "root_path": "", "method": "GET"}
    matching = [r for r in app.router.routes if r.matches(scope)[0] is not Match.NONE]
    assert matching == [first]


@pytest.mark.anyio
async def test_front_door_lets_a_middleware_added_to_the_app_see_provider_requests() -> None:
    app = create_app(Settings(clock="manual"))
    async with _client(app) as http:
        headers = {"Authorization": "Bearer k", "Origin": "https://app.test"}
        assert (await http.get("/api/v1/chat/credit", headers=headers)).status_code == 200
        app.add_middleware(CORSMiddleware, allow_origins=["*"])
        answer = await http.get("/api/v1/chat/credit", headers=headers)
        assert answer.headers["access-control-allow-origin"] == "*"
