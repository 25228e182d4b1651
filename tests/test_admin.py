"""The control API: clock, tasks, rules (faults and outcomes), journals, accounts, reset."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.testing.receiver import CallbackReceiver
from tests.conftest import BASE, Kie, local_body, make_settings

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": "Bearer k1"}


async def test_admin_clock_advances_only_when_told(kie: Kie) -> None:
    before = (await kie.control("GET", "/_mock/clock")).json()
    assert before["mode"] == "manual"
    assert before["now"] == "2026-01-01T00:00:00Z"
    after = await kie.advance(90.5)
    assert after["nowMs"] == before["nowMs"] + 90_500


async def test_admin_advance_refuses_negative_and_non_numbers(kie: Kie) -> None:
    for body in ({"seconds": -1}, {"seconds": "ten"}, {}, {"seconds": 1, "x": 2}):
        response = await kie.control("POST", "/_mock/clock/advance", json=body)
        assert response.status_code == 422, body
        assert "error" in response.json()


async def test_admin_tasks_list_view_and_finish(kie: Kie) -> None:
    task_id = await kie.create_id()
    listed = (await kie.control("GET", "/_mock/tasks")).json()
    assert listed["count"] == 1
    assert listed["tasks"][0]["taskId"] == task_id
    assert listed["tasks"][0]["state"] == "waiting"
    finished = (await kie.control("POST", f"/_mock/tasks/{task_id}/finish")).json()
    assert finished["state"] == "success"
    assert len(finished["resultUrls"]) == 1
    by_state = (await kie.control("GET", "/_mock/tasks", params={"state": "success"})).json()
    assert by_state["count"] == 1
    bad_state = await kie.control("GET", "/_mock/tasks", params={"state": "done"})
    assert bad_state.status_code == 422
    missing = await kie.control("GET", f"/_mock/tasks/{'f' * 32}")
    assert missing.status_code == 404


async def test_admin_fail_twice_then_succeed(kie: Kie) -> None:
    rule = await kie.control(
        "POST",
        "/_mock/faults",
        json={"outcome": "fail", "failCode": "500", "failMsg": "Internal server error", "times": 2},
    )
    assert rule.status_code == 201
    assert rule.json()["remaining"] == 2
    ids = [await kie.create_id() for _ in range(3)]
    await kie.advance(120)
    records = [(await kie.record(t))["data"] for t in ids]
    assert [r["state"] for r in records] == ["fail", "fail", "success"]
    assert records[0]["failCode"] == "500"
    assert records[0]["failMsg"] == "Internal server error"
    assert records[0]["resultJson"] is None
    assert (await kie.control("GET", "/_mock/faults")).json()["faults"] == []


async def test_admin_outcome_rule_matches_model_and_prompt(kie: Kie) -> None:
    await kie.control(
        "POST",
        "/_mock/faults",
        json={
            "outcome": "fail",
            "failCode": "422",
            "model": "ideogram/character-remix",
            "times": None,
        },
    )
    await kie.control(
        "POST", "/_mock/faults", json={"outcome": "fail", "promptContains": "volcano"}
    )
    plain = await kie.create_id()
    remix = await kie.create_id(local_body("create_task_remix.json"))
    volcano = await kie.create_id(local_body(prompt="a volcano at dusk"))
    await kie.advance(120)
    states = {t: (await kie.record(t))["data"] for t in (plain, remix, volcano)}
    assert states[plain]["state"] == "success"
    assert states[remix]["failMsg"] == "Your media file is unavailable, please replace it."
    assert states[volcano]["failCode"] == "500"


async def test_admin_outcome_duration_overrides_the_timeline(kie: Kie) -> None:
    await kie.control("POST", "/_mock/faults", json={"outcome": "success", "durationSeconds": 2})
    task_id = await kie.create_id()
    await kie.advance(2)
    assert (await kie.record(task_id))["data"]["state"] == "success"


@pytest.mark.parametrize("code", [401, 402, 404, 408, 422, 429, 433, 455, 500, 501, 505])
async def test_admin_request_fault_answers_the_envelope_code_then_stops(
    kie: Kie, code: int
) -> None:
    await kie.control("POST", "/_mock/faults", json={"endpoint": "createTask", "code": code})
    first = await kie.create()
    assert first["code"] == code
    assert first["msg"]
    assert (await kie.create())["code"] == 200


async def test_admin_request_fault_for_one_key_spares_others(kie: Kie) -> None:
    await kie.control(
        "POST",
        "/_mock/faults",
        json={"endpoint": "*", "code": 429, "apiKey": "noisy", "times": None},
    )
    assert (await kie.create(key="noisy"))["code"] == 429
    assert (await kie.create(key="quiet"))["code"] == 200
    credit = await kie.client.get("/api/v1/chat/credit", headers={"Authorization": "Bearer noisy"})
    assert credit.json()["code"] == 429


async def test_admin_latency_fault_delays_the_answer(kie: Kie) -> None:
    await kie.control(
        "POST", "/_mock/faults", json={"endpoint": "credit", "kind": "latency", "latencyMs": 150}
    )
    started = time.perf_counter()
    response = await kie.client.get("/api/v1/chat/credit", headers=AUTH)
    assert response.json()["code"] == 200
    assert time.perf_counter() - started >= 0.15


async def test_admin_gateway_fault_answers_a_502_page(kie: Kie) -> None:
    await kie.control("POST", "/_mock/faults", json={"endpoint": "recordInfo", "kind": "gateway"})
    response = await kie.client.get("/api/v1/jobs/recordInfo", params={"taskId": "x"}, headers=AUTH)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"endpoint": "createTask"},
        {"endpoint": "createTask", "code": 200},
        {"endpoint": "createTask", "kind": "latency", "code": 429},
        {"outcome": "fail", "endpoint": "createTask"},
        {"outcome": "success", "failCode": "500"},
        {"outcome": "explode"},
        {"endpoint": "createTask", "code": 429, "times": 0},
        {"endpoint": "createTask", "code": 429, "bogus": 1},
    ],
)
async def test_admin_invalid_rule_is_422_and_adds_nothing(
    kie: Kie, body: dict[str, object]
) -> None:
    response = await kie.control("POST", "/_mock/faults", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]
    assert (await kie.control("GET", "/_mock/faults")).json()["faults"] == []


async def test_admin_rules_can_be_deleted_one_by_one_or_all(kie: Kie) -> None:
    one = (
        await kie.control("POST", "/_mock/faults", json={"endpoint": "credit", "code": 500})
    ).json()
    await kie.control("POST", "/_mock/faults", json={"endpoint": "credit", "code": 500})
    assert (await kie.control("DELETE", f"/_mock/faults/{one['id']}")).status_code == 200
    assert (await kie.control("DELETE", f"/_mock/faults/{one['id']}")).status_code == 404
    cleared = (await kie.control("DELETE", "/_mock/faults")).json()
    assert cleared == {"ok": True, "removed": 1}


async def test_admin_maintenance_answers_455_everywhere_until_off(kie: Kie) -> None:
    await kie.control("PUT", "/_mock/maintenance", json={"enabled": True})
    assert (await kie.create())["code"] == 455
    assert (await kie.record("x"))["code"] == 455
    await kie.control("PUT", "/_mock/maintenance", json={"enabled": False})
    assert (await kie.create())["code"] == 200


async def test_admin_in_band_triggers_in_the_prompt(kie: Kie) -> None:
    assert (await kie.create(local_body(prompt="[mock:code=429] hi")))["code"] == 429
    failed = await kie.create_id(local_body(prompt="[mock:fail=422] hi"))
    quick = await kie.create_id(local_body(prompt="[mock:seconds=1] hi"))
    await kie.advance(1)
    assert (await kie.record(quick))["data"]["state"] == "success"
    await kie.advance(60)
    record = (await kie.record(failed))["data"]
    assert (record["failCode"], record["failMsg"]) == (
        "422",
        "Your media file is unavailable, please replace it.",
    )


async def test_admin_request_journal_records_codes_keys_and_faults(kie: Kie) -> None:
    await kie.control("POST", "/_mock/faults", json={"endpoint": "createTask", "code": 500})
    await kie.create()
    task_id = await kie.create_id()
    await kie.record(task_id)
    entries = (await kie.control("GET", "/_mock/requests")).json()["requests"]
    assert [(e["operationId"], e["code"]) for e in entries] == [
        ("createTask", 500),
        ("createTask", 200),
        ("getTaskRecord", 200),
    ]
    assert entries[1]["taskId"] == task_id
    assert entries[0]["apiKey"] == "k1"
    only = (
        await kie.control("GET", "/_mock/requests", params={"operationId": "getTaskRecord"})
    ).json()
    assert len(only["requests"]) == 1


async def test_admin_accounts_set_credits_and_register_keys(kie: Kie) -> None:
    put = await kie.control("PUT", "/_mock/accounts/k1", json={"credits": 5})
    assert put.json() == {"apiKey": "k1", "credits": 5, "tasks": 0}
    assert (await kie.create())["code"] == 402
    bad = await kie.control("PUT", "/_mock/accounts/k1", json={"credits": -1})
    assert bad.status_code == 422
    accounts = (await kie.control("GET", "/_mock/accounts")).json()["accounts"]
    assert [a["apiKey"] for a in accounts] == ["k1"]


async def test_admin_reset_forgets_everything_but_the_clock(kie: Kie) -> None:
    task_id = await kie.create_id()
    await kie.control("POST", "/_mock/faults", json={"endpoint": "credit", "code": 500})
    await kie.control("PUT", "/_mock/accounts/k1", json={"credits": 1})
    await kie.advance(5)
    now = (await kie.control("GET", "/_mock/clock")).json()["nowMs"]
    assert (await kie.control("POST", "/_mock/reset")).json() == {"ok": True}
    assert (await kie.record(task_id))["code"] == 422
    assert (await kie.control("GET", "/_mock/faults")).json()["faults"] == []
    assert (await kie.control("GET", "/_mock/requests")).json()["requests"] == [
        {
            "seq": 1,
            "atMs": now,
            "provider": "kie",
            "method": "GET",
            "path": "/api/v1/jobs/recordInfo",
            "operationId": "getTaskRecord",
            "apiKey": "k1",
            "status": 200,
            "code": 422,
            "taskId": task_id,
            "fault": None,
            "warning": None,
        }
    ]
    assert (await kie.control("GET", "/_mock/clock")).json()["nowMs"] == now
    # A memory store's ids restart from the seed (a fresh fake gives the same first id); a
    # durable store never hands an id out twice, reset or not.
    again = await kie.create_id()
    assert (again == task_id) is not kie.fake.store.durable


async def test_admin_settings_show_what_is_in_force(kie: Kie) -> None:
    shown = (await kie.control("GET", "/_mock/settings")).json()
    assert shown["clock"] == "manual"
    assert shown["rate_limit"] == "20/10"
    assert shown["base_url"] == BASE


async def test_admin_no_admin_leaves_only_the_api_and_files() -> None:
    fake = make_fake(make_settings(admin=False, time_scale=0))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(fake=fake)), base_url=BASE
    ) as client:
        assert (await client.get("/_mock/clock")).status_code == 404
        created = await client.post("/api/v1/jobs/createTask", json=local_body(), headers=AUTH)
        task_id = created.json()["data"]["taskId"]
        record = await client.get(
            "/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH
        )
        url = record.json()["data"]["response"]["resultUrls"][0]
        assert (await client.get(url)).status_code == 200


async def test_admin_views_name_the_provider_and_the_neutral_stage(kie: Kie) -> None:
    task_id = await kie.create_id()
    view = (await kie.control("GET", f"/_mock/tasks/{task_id}")).json()
    assert (view["provider"], view["stage"], view["state"]) == ("kie", "pending", "waiting")
    await kie.control("POST", f"/_mock/tasks/{task_id}/finish")
    by_stage = (await kie.control("GET", "/_mock/tasks", params={"stage": "succeeded"})).json()
    assert [t["taskId"] for t in by_stage["tasks"]] == [task_id]
    by_provider = await kie.control("GET", "/_mock/tasks", params={"provider": "kie"})
    assert by_provider.json()["count"] == 1
    unknown = await kie.control("GET", "/_mock/tasks", params={"provider": "nobody"})
    assert unknown.status_code == 422
    requests = (await kie.control("GET", "/_mock/requests", params={"provider": "kie"})).json()
    assert {e["provider"] for e in requests["requests"]} == {"kie"}


async def test_admin_rules_may_name_the_provider_they_apply_to(kie: Kie) -> None:
    added = await kie.control(
        "POST", "/_mock/faults", json={"provider": "kie", "endpoint": "credit", "code": 500}
    )
    assert added.status_code == 201
    assert added.json()["provider"] == "kie"
    answer = await kie.client.get("/api/v1/chat/credit", headers=AUTH)
    assert answer.json()["code"] == 500
    refused = await kie.control(
        "POST", "/_mock/faults", json={"provider": "nobody", "endpoint": "credit", "code": 500}
    )
    assert refused.status_code == 422


async def test_admin_fail_ends_a_running_task_now_refunds_it_and_calls_back_once(kie: Kie) -> None:
    with CallbackReceiver() as receiver:
        body = local_body()
        body["callBackUrl"] = receiver.url
        task_id = await kie.create_id(body)
        failed = await kie.control("POST", f"/_mock/tasks/{task_id}/fail")
        assert failed.status_code == 200
        view = failed.json()
        assert (view["state"], view["outcome"]["failCode"]) == ("fail", "500")
        assert view["record"]["data"]["state"] == "fail"  # as recordInfo answers now
        credit = await kie.client.get("/api/v1/chat/credit", headers={"Authorization": "Bearer k1"})
        assert credit.json()["data"] == 100_000  # the charge came back
        await kie.advance(0)  # the callback is due now, not at the old end
        await kie.advance(120)  # and the delivery meant for the old end is dropped
        (sent,) = receiver.wait_for(1)
        assert sent.json()["data"]["state"] == "fail"
        assert len(receiver.received) == 1
        again = await kie.control("POST", f"/_mock/tasks/{task_id}/fail")
        assert again.status_code == 422  # it has ended
    assert (await kie.control("POST", "/_mock/tasks/nope/fail")).status_code == 404


async def test_admin_serves_the_inspector_with_nothing_from_elsewhere(kie: Kie) -> None:
    page = await kie.unchecked.get("/_mock/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Nothing is loaded from another origin: no absolute URL in any src, href or url().
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//|url\((?:https?:)?//""", page.text)
    bare = await kie.unchecked.get("/_mock/ui?token=t")
    assert (bare.status_code, bare.headers["location"]) == (308, "/_mock/ui/?token=t")
    assert (await kie.control("GET", "/_mock/maintenance")).json() == {"enabled": False}


async def test_admin_a_state_kept_by_more_providers_shows_only_the_ones_served(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path}/state.db"
    ids: dict[str, str] = {}
    for providers in [(), ("kie",)]:
        fake = make_fake(make_settings(store=store, providers=providers))
        transport = httpx.ASGITransport(app=create_app(fake=fake))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            if not providers:  # served with every provider: a task on two of them
                submitted = await client.post(
                    "/v2/ideogram-character",
                    json={"prompt": "p", "character_reference_image": "http://127.0.0.1:9/a.png"},
                    headers={"x-api-key": "k1"},
                )
                ids["segmind"] = submitted.json()["request_id"]
                created = await client.post(
                    "/api/v1/jobs/createTask", json=local_body(), headers=AUTH
                )
                ids["kie"] = created.json()["data"]["taskId"]
                continue
            listed = await client.get("/_mock/tasks")
            assert listed.status_code == 200
            assert [t["taskId"] for t in listed.json()["tasks"]] == [ids["kie"]]
            assert (await client.get("/_mock/tasks?provider=segmind")).json()["tasks"] == []
            assert (await client.get(f"/_mock/tasks/{ids['segmind']}")).status_code == 404
            assert (await client.get(f"/_mock/tasks/{ids['kie']}")).status_code == 200
        fake.store.close()


async def test_admin_whole_floats_are_kept_and_answered_as_integers(kie: Kie) -> None:
    put = await kie.control("PUT", "/_mock/accounts/k1", json={"credits": 100.0})
    assert put.content == b'{"apiKey":"k1","credits":100,"tasks":0}'
    credit = await kie.client.get("/api/v1/chat/credit", headers=AUTH)
    assert b'"data":100}' in credit.content
    rule = await kie.control(
        "POST", "/_mock/faults", json={"endpoint": "credit", "code": 429, "times": 2.0}
    )
    assert (rule.json()["times"], rule.json()["remaining"]) == (2, 2)
    assert b'"times":2,' in rule.content
    for times in (1e20, 2**70):
        refused = await kie.control(
            "POST", "/_mock/faults", json={"endpoint": "credit", "code": 429, "times": times}
        )
        assert refused.status_code == 422
        assert refused.json()["field"] == "times"
