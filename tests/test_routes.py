from __future__ import annotations

from collections.abc import Sequence

import httpx
import orjson
import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ideogram_mock.server.app import create_app, make_fake
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
        first, child = next(
            (r, matched[1])
            for r in app.router.routes
            if (matched := r.matches(scope))[0] is not Match.NONE
        )
        if first is not found[0] or child.get("path_params", {}) != found[1]:
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
    paths |= {"*", "x1", "//", "/v2/requests/", "v2/requests/x1"}  # odd request targets
    assert _sent_elsewhere(app, sorted(paths)) == []
    table = app._index()
    # The hot provider paths do skip starlette's scan.
    assert "/api/v1/jobs/recordInfo" in table.static
    assert table.find("/v2/requests/abc") is not None
    assert table.find("/files/t/1/s/0.png") is not None  # a client's image downloads too
    assert table.find("/files/t/1//0.png") is None  # an empty part: starlette's 404
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
        control = await http.get("/_mock/accounts/k")  # the control API's own shape
        assert (control.status_code, control.json()) == (405, {"error": "Method not allowed"})
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


class _PassThrough:
    """A middleware that changes nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@pytest.mark.anyio
async def test_front_door_answers_file_downloads_byte_for_byte_as_starlette_does() -> None:
    fake = make_fake(Settings(clock="manual", credits=100))
    direct = create_app(fake=fake)
    scanned = create_app(fake=fake)
    scanned.add_middleware(_PassThrough)  # with a middleware, starlette routes every request
    async with _client(direct) as http, _client(scanned) as other:
        headers = {"Authorization": "Bearer k"}
        created = await http.post(
            "/api/v1/jobs/createTask",
            headers=headers,
            json={
                "model": "ideogram/character",
                "input": {"prompt": "a knight", "reference_image_urls": ["https://x.test/me.png"]},
            },
        )
        task_id = created.json()["data"]["taskId"]
        fake.clock.advance(60)
        record = await http.get(
            "/api/v1/jobs/recordInfo", headers=headers, params={"taskId": task_id}
        )
        url = httpx.URL(orjson.loads(record.json()["data"]["resultJson"])["resultUrls"][0])
        _, _, tid, expires, sig, name = url.path.split("/")
        paths = [
            url.path,  # the image
            f"/files/{tid}/{expires}/{sig[:-1]}{'1' if sig.endswith('0') else '0'}/{name}",
            f"/files/{tid}/{expires}/{sig}/1.png",  # an image the task does not have
            f"/files/{tid}/{expires}/{sig}/0.gif",  # no such file name
            f"/files/{'0' * 32}/{expires}/{sig}/{name}",  # no such task
            f"/files/{tid}/{expires}/{sig}/{name}/more",  # no such route
        ]
        answers = []
        for path in paths:
            for method in ("GET", "HEAD"):
                mine, theirs = await http.request(method, path), await other.request(method, path)
                answers.append(mine.status_code)
                assert (mine.status_code, mine.headers.raw, mine.content) == (
                    theirs.status_code,
                    theirs.headers.raw,
                    theirs.content,
                ), (method, path)
        assert answers == [200, 200, 403, 403, 404, 404, 404, 404, 404, 404, 404, 404]
        fake.clock.advance(10**6)  # past the link's life
        expired = await http.get(url.path)
        assert (expired.status_code, expired.json()) == (410, {"error": "the link has expired"})
        assert (await other.get(url.path)).content == expired.content
