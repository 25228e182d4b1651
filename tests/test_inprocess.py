"""The in-process fixtures' serving: httpx's own transports hand faked hosts to the fake, with
no thread hop for a sync client on a manual clock, and leave everything else (respx routes,
other hosts, httpx itself afterwards) as it was."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ideogram_mock.core.errors import InvalidInput
from ideogram_mock.settings import Settings
from ideogram_mock.testing.handle import HandleError
from ideogram_mock.testing.inprocess import KieMock, SegmindMock

CREATE = "https://api.kie.ai/api/v1/jobs/createTask"
RECORD = "https://api.kie.ai/api/v1/jobs/recordInfo"
HOOK = "https://client.test/hook"


def body(callback: str | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {
        "model": "ideogram/character",
        "input": {"prompt": "a knight", "reference_image_urls": ["https://cdn.example.com/a.png"]},
    }
    if callback:
        order["callBackUrl"] = callback
    return order


def hook_app(seen: list[tuple[str, int]]) -> Starlette:
    async def hook(request: Request) -> JSONResponse:
        seen.append(((await request.json())["data"]["taskId"], threading.get_ident()))
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def test_sync_client_runs_a_task_to_its_image_and_times_each_answer(kie_mock: KieMock) -> None:
    with httpx.Client(headers=kie_mock.headers()) as http:
        created = http.post(CREATE, json=body())
        task_id = created.json()["data"]["taskId"]
        kie_mock.finish(task_id)
        record = http.get(RECORD, params={"taskId": task_id}).json()["data"]
        assert record["state"] == "success"
        url = httpx.URL(record["resultJson"].split('"')[3])
        image = http.get(url)
    assert image.content.startswith(b"\x89PNG")
    assert image.headers["content-type"] == "image/png"
    # Read and timed by the client as from a real transport (schemathesis reads `elapsed`).
    assert created.elapsed.total_seconds() >= 0
    assert image.elapsed.total_seconds() >= 0


def test_sync_client_on_a_manual_clock_is_served_on_the_callers_thread(kie_mock: KieMock) -> None:
    seen: list[tuple[str, int]] = []
    kie_mock.router.post(HOOK).mock(side_effect=respx.ASGIHandler(hook_app(seen)))
    with httpx.Client(headers=kie_mock.headers()) as http:
        task_id = http.post(CREATE, json=body(HOOK)).json()["data"]["taskId"]
    assert kie_mock.advance(3600) == 1
    # The callback went out on this thread's own loop, not through a helper thread.
    assert seen == [(task_id, threading.get_ident())]


def test_sync_clients_in_other_threads_are_served_too(kie_mock: KieMock) -> None:
    ids: list[str] = []

    def create() -> None:
        with httpx.Client(headers=kie_mock.headers()) as http:
            for _ in range(5):
                ids.append(http.post(CREATE, json=body()).json()["data"]["taskId"])

    threads = [threading.Thread(target=create) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(set(ids)) == 15
    assert {t["taskId"] for t in kie_mock.tasks} == set(ids)


@pytest.mark.anyio
async def test_sync_client_and_sync_advance_inside_an_async_test(kie_mock: KieMock) -> None:
    seen: list[tuple[str, int]] = []
    kie_mock.router.post(HOOK).mock(side_effect=respx.ASGIHandler(hook_app(seen)))
    with httpx.Client(headers=kie_mock.headers()) as http:
        task_id = http.post(CREATE, json=body(HOOK)).json()["data"]["taskId"]
        assert kie_mock.advance(1) == 0  # nothing due: moved right here
        assert http.get(RECORD, params={"taskId": task_id}).json()["data"]["state"] != "success"
        assert kie_mock.advance(3600) == 1  # a delivery: made in the portal's loop
        assert http.get(RECORD, params={"taskId": task_id}).json()["data"]["state"] == "success"
    assert [s[0] for s in seen] == [task_id]


@pytest.mark.anyio
async def test_async_advance_and_finish_deliver_on_the_tests_loop(kie_mock: KieMock) -> None:
    seen: list[tuple[str, int]] = []
    kie_mock.router.post(HOOK).mock(side_effect=respx.ASGIHandler(hook_app(seen)))
    async with httpx.AsyncClient(headers=kie_mock.headers()) as http:
        quiet = (await http.post(CREATE, json=body())).json()["data"]["taskId"]
        loud = (await http.post(CREATE, json=body(HOOK))).json()["data"]["taskId"]
        assert (await kie_mock.afinish(quiet))["state"] == "success"
        assert (await kie_mock.afinish(loud))["state"] == "success"
    assert seen == [(loud, threading.get_ident())]
    with pytest.raises(HandleError, match="no-such-task"):
        await kie_mock.afinish("no-such-task")
    with pytest.raises(HandleError, match="finite number"):
        kie_mock.advance(-1)
    with pytest.raises(InvalidInput):
        await kie_mock.aadvance(float("nan"))


def test_a_tests_own_respx_mock_still_answers_other_hosts(kie_mock: KieMock) -> None:
    with respx.mock(assert_all_called=True) as own:
        own.get("https://billing.test/balance").respond(json={"left": 3})
        with httpx.Client(headers=kie_mock.headers()) as http:
            assert http.get("https://billing.test/balance").json() == {"left": 3}
            assert http.get("https://api.kie.ai/api/v1/chat/credit").json()["data"] == 100000


def test_httpx_is_left_as_it_was_found() -> None:
    sync_before = httpx.HTTPTransport.handle_request
    async_before = httpx.AsyncHTTPTransport.handle_async_request
    with KieMock(Settings(clock="manual")) as mock:
        assert httpx.HTTPTransport.handle_request is not sync_before
        with httpx.Client(headers=mock.headers()) as http:
            assert http.get("https://api.kie.ai/api/v1/chat/credit").status_code == 200
    assert httpx.HTTPTransport.handle_request is sync_before
    assert httpx.AsyncHTTPTransport.handle_async_request is async_before


def test_two_fakes_the_first_serves_and_the_other_takes_over_when_it_stops() -> None:
    first = KieMock(Settings(clock="manual", credits=11))
    second = KieMock(Settings(clock="manual", credits=22))
    try:
        first.start()
        second.start()
        with httpx.Client(headers=first.headers()) as http:
            assert http.get("https://api.kie.ai/api/v1/chat/credit").json()["data"] == 11
            first.stop()
            assert http.get("https://api.kie.ai/api/v1/chat/credit").json()["data"] == 22
    finally:
        first.close()
        second.close()


def test_a_host_with_a_path_serves_only_under_it() -> None:
    with (
        KieMock(
            Settings(clock="manual"), hosts=("https://gw.test/kie",), pass_through=False
        ) as mock,
        httpx.Client(headers={"Authorization": "Bearer k"}) as http,
    ):
        assert http.get("https://gw.test/kie/api/v1/chat/credit").json()["data"] == 100000
        created = http.post("https://gw.test/kie/api/v1/jobs/createTask", json=body())
        task_id = created.json()["data"]["taskId"]
        mock.finish(task_id)
        record = http.get("https://gw.test/kie/api/v1/jobs/recordInfo?taskId=" + task_id)
        url = record.json()["data"]["resultJson"].split('"')[3]
        assert url.startswith("https://gw.test/kie/")
        assert http.get(url).content.startswith(b"\x89PNG")
        with pytest.raises(respx.models.AllMockedAssertionError):
            http.get("https://gw.test/other/api/v1/chat/credit")


def test_a_dropped_connection_is_a_transport_error(kie_mock: KieMock) -> None:
    kie_mock.fault("createTask", kind="drop")
    with (
        httpx.Client(headers=kie_mock.headers()) as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.post(CREATE, json=body())


def test_sync_clients_in_many_threads_are_served_one_at_a_time_exactly() -> None:
    import sys

    with KieMock(Settings(clock="manual", rate_limit=None, credits=10**9)) as mock:
        codes: list[int] = []
        before = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads switch as often as they can
        try:

            def create() -> None:
                with httpx.Client(headers=mock.headers()) as http:
                    for _ in range(40):
                        codes.append(http.post(CREATE, json=body()).status_code)

            threads = [threading.Thread(target=create) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            sys.setswitchinterval(before)
        assert codes == [200] * 240
        assert len({t["taskId"] for t in mock.tasks}) == 240
        charged = sum(t["creditsCharged"] for t in mock.tasks)
        assert mock.credits() == 10**9 - charged


def test_a_base_urls_path_is_the_root_only_on_its_own_host() -> None:
    hosts = ("https://gw.test/kie", "https://other.test")
    with (
        KieMock(Settings(clock="manual"), hosts=hosts, pass_through=False),
        httpx.Client(headers={"Authorization": "Bearer k"}) as http,
    ):
        assert http.get("https://gw.test/kie/api/v1/chat/credit").json()["data"] == 100000
        assert http.get("https://other.test/api/v1/chat/credit").json()["data"] == 100000
        assert http.get("https://other.test/kie/api/v1/chat/credit").json()["code"] == 404


def test_of_two_fakes_the_one_on_the_longer_base_url_serves_under_it() -> None:
    whole = KieMock(Settings(clock="manual", credits=1), hosts=("https://gw.test",))
    under = KieMock(Settings(clock="manual", credits=2), hosts=("https://gw.test/kie",))
    try:
        whole.start()
        under.start()
        with httpx.Client(headers={"Authorization": "Bearer k"}) as http:
            assert http.get("https://gw.test/kie/api/v1/chat/credit").json()["data"] == 2
            assert http.get("https://gw.test/api/v1/chat/credit").json()["data"] == 1
    finally:
        whole.close()
        under.close()


def test_of_two_fakes_each_serves_its_own_providers_host_whichever_started_first() -> None:
    # A kie fake serves Segmind's paths too, but yields them to a Segmind fake: three
    # providers' contract kits can then run in one pytest session, each on its own fake.
    with (
        KieMock(Settings(clock="manual", credits=11)) as kie,
        SegmindMock(Settings(clock="manual", credits=1000)) as segmind,
        httpx.Client(headers={"Authorization": "Bearer k", "x-api-key": "SG_k"}) as http,
    ):
        assert http.get("https://api.kie.ai/api/v1/chat/credit").json()["data"] == 11
        queued = http.post(
            "https://api.segmind.com/v2/ideogram-character",
            json={"prompt": "a knight", "character_reference_image": "https://x.test/a.png"},
        ).json()
        assert queued["status_url"].startswith("https://api.segmind.com/")
        assert segmind.fake.store.get(queued["request_id"]) is not None
        assert kie.fake.store.get(queued["request_id"]) is None
        segmind.stop()  # then the kie fake takes Segmind's host back
        assert http.get(queued["status_url"]).status_code == 404


def test_a_fake_given_another_providers_host_still_yields_it_to_that_providers_fake() -> None:
    hosts = ("https://gw.test", "https://API.segmind.com:443/")  # however it is spelled
    with (
        KieMock(Settings(clock="manual", credits=11), hosts=hosts),
        SegmindMock(Settings(clock="manual", credits=22)),
        httpx.Client(headers={"Authorization": "Bearer k", "x-api-key": "SG_k"}) as http,
    ):
        assert http.get("https://gw.test/api/v1/chat/credit").json()["data"] == 11
        credits = http.get("https://api.segmind.com/v1/get-user-credits").json()["credits"]
        assert credits == 0.11  # 22 fake credits, in dollars
