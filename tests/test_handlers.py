"""The upstream API over HTTP (in-process): envelope, validation, lifecycle, results, accounts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ideogram_mock.core import images
from tests.conftest import BASE, Kie, basic, local_body, make_settings, seed, segmind_body

pytestmark = pytest.mark.anyio
CATALOGUE = json.loads(
    (seed.__globals__["ROOT"] / "fixtures" / "invalid_create_bodies.json").read_text()
)["cases"]
AUTH = {"Authorization": "Bearer k1"}


async def test_handlers_seed_create_task_example_works_verbatim(kie: Kie) -> None:
    answer = await kie.create(seed("create_task_character.json"))
    assert answer["code"] == 200
    assert answer["msg"] == "success"
    assert len(answer["data"]["taskId"]) == 32


@pytest.mark.parametrize(
    "name", ["create_task_character.json", "create_task_edit.json", "create_task_remix.json"]
)
async def test_handlers_each_model_goes_from_waiting_to_success(kie: Kie, name: str) -> None:
    task_id = await kie.create_id(local_body(name))
    seen = [(await kie.record(task_id))["data"]["state"]]
    for _ in range(30):
        await kie.advance(1)
        seen.append((await kie.record(task_id))["data"]["state"])
    assert seen[0] == "waiting"
    ordered = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    assert ordered == ["waiting", "queuing", "generating", "success"]


async def test_handlers_param_gives_back_integers_too_long_for_64_bits_exactly(kie: Kie) -> None:
    # Undeclared fields are kept (and journaled as ignored); orjson alone would read these
    # numbers as floats and give back -3.2589158477190046e19.
    body = {
        **local_body(),
        "<": -32589158477190044730,
        "nested": {"big": [2**64, -(2**70)], "small": 5, "float": 6.741493806186369e16},
        "digits": "12345678901234567890",
    }
    task_id = await kie.create_id(body)
    for _ in range(2):  # running, then ended (the ended answer is kept)
        data = (await kie.record(task_id))["data"]
        assert json.loads(data["param"]) == body
        await kie.advance(120)


async def test_handlers_record_of_a_finished_task_has_the_live_shape(kie: Kie) -> None:
    body = local_body(num_images="2", image_size="landscape_16_9")
    task_id = await kie.create_id(body)
    await kie.advance(120)
    data = (await kie.record(task_id))["data"]
    assert data["failCode"] is None
    assert data["failMsg"] is None
    assert json.loads(data["param"]) == body
    assert data["costTime"] == round((data["completeTime"] - data["createTime"]) / 1000)
    assert data["creditsConsumed"] == 36
    urls = json.loads(data["resultJson"])["resultUrls"]
    assert len(urls) == 2
    assert data["response"] == {"resultUrls": urls}
    for url in urls:
        response = await kie.client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert images.sniff(response.content) == images.Sniffed("png", 1024, 576)


async def test_handlers_terminal_record_never_changes(kie: Kie) -> None:
    task_id = await kie.create_id()
    await kie.advance(60)
    first = await kie.record(task_id)
    await kie.advance(3600)
    assert await kie.record(task_id) == first


async def test_handlers_durations_grow_with_speed_and_image_count(kie: Kie) -> None:
    ends = {}
    for speed, count in (("TURBO", "1"), ("BALANCED", "1"), ("QUALITY", "1"), ("QUALITY", "4")):
        task_id = await kie.create_id(local_body(rendering_speed=speed, num_images=count))
        ends[speed, count] = kie.fake.task(task_id).complete_ms - kie.fake.task(task_id).created_ms
    assert ends["TURBO", "1"] < ends["BALANCED", "1"] < ends["QUALITY", "1"] < ends["QUALITY", "4"]


@pytest.mark.parametrize("settings", [make_settings(time_scale=0.0)])
async def test_handlers_time_scale_zero_finishes_at_once(kie: Kie) -> None:
    task_id = await kie.create_id()
    assert (await kie.record(task_id))["data"]["state"] == "success"


async def test_handlers_same_seed_and_prompt_give_the_same_image(kie: Kie) -> None:
    ids = [await kie.create_id(local_body(seed=7)) for _ in range(2)]
    other = await kie.create_id(local_body(seed=8))
    await kie.advance(60)
    pictures = []
    for task_id in [*ids, other]:
        url = json.loads((await kie.record(task_id))["data"]["resultJson"])["resultUrls"][0]
        pictures.append((await kie.client.get(url)).content)
    assert pictures[0] == pictures[1]
    assert pictures[0] != pictures[2]


@pytest.mark.parametrize("settings", [make_settings(strict_fields=True)])
@pytest.mark.parametrize("case", CATALOGUE, ids=[c["name"] for c in CATALOGUE])
async def test_handlers_catalogued_invalid_body_gets_the_envelope_naming_the_field(
    kie: Kie, case: dict[str, Any]
) -> None:
    answer = await kie.create(case["body"])
    assert answer["code"] == case["code"]
    assert answer["data"] is None
    if case["rule"] == "unknown-model":
        assert answer["msg"] == "The page does not exist or is not published"
    else:
        assert case["field"] in answer["msg"]
    assert len(kie.fake.store) == 0


async def test_handlers_unknown_fields_are_ignored_and_journaled_as_a_warning(kie: Kie) -> None:
    unknown = [c for c in CATALOGUE if c["rule"] == "additionalProperties"]
    assert len(unknown) >= 5
    for case in unknown:
        answer = await kie.create(case["body"])
        assert answer["code"] == 200, (case["name"], answer)
        warning = list(kie.fake.requests)[-1].warning
        assert warning is not None and case["field"] in warning, (case["name"], warning)
    assert len(kie.fake.store) == len(unknown)


async def test_handlers_body_that_is_not_json_is_400(kie: Kie) -> None:
    response = await kie.client.post("/api/v1/jobs/createTask", content=b"{oops", headers=AUTH)
    assert response.json() == {"code": 400, "msg": "request body is not valid JSON", "data": None}
    empty = await kie.client.post("/api/v1/jobs/createTask", content=b"", headers=AUTH)
    assert empty.json()["code"] == 400


async def test_handlers_body_over_the_limit_is_413(kie: Kie) -> None:
    big = b'{"model": "' + b"x" * 1_100_000 + b'"}'
    response = await kie.client.post("/api/v1/jobs/createTask", content=big, headers=AUTH)
    assert response.json()["code"] == 413


async def test_handlers_missing_task_id_is_400(kie: Kie) -> None:
    response = await kie.client.get("/api/v1/jobs/recordInfo", headers=AUTH)
    assert response.json() == {"code": 400, "msg": "taskId parameter is required", "data": None}


async def test_handlers_unknown_task_is_record_is_null(kie: Kie) -> None:
    answer = await kie.record("0" * 32)
    assert answer == {"code": 422, "msg": "recordInfo is null", "data": None}


@pytest.mark.parametrize("settings", [make_settings(unknown_task="docs")])
async def test_handlers_unknown_task_can_answer_the_documented_404(kie: Kie) -> None:
    assert await kie.record("0" * 32) == {"code": 404, "msg": "Task not found", "data": None}


async def test_handlers_a_task_is_visible_only_to_its_key(kie: Kie) -> None:
    task_id = await kie.create_id(key="alice")
    assert (await kie.record(task_id, key="alice"))["code"] == 200
    assert (await kie.record(task_id, key="bob"))["msg"] == "recordInfo is null"


@pytest.mark.parametrize("settings", [make_settings(record_delay_s=2.0)])
async def test_handlers_record_delay_hides_a_new_task_for_a_moment(kie: Kie) -> None:
    task_id = await kie.create_id()
    assert (await kie.record(task_id))["msg"] == "recordInfo is null"
    await kie.advance(2)
    assert (await kie.record(task_id))["code"] == 200


@pytest.mark.parametrize("header", [None, "Bearer ", "Basic abc", "Bearer"])
async def test_handlers_missing_or_malformed_key_is_401(kie: Kie, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await kie.client.get("/api/v1/chat/credit", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "code": 401,
        "msg": "You do not have access permissions",
        "data": None,
    }


@pytest.mark.parametrize("settings", [make_settings(api_keys=("good",))])
async def test_handlers_fixed_keys_refuse_others(kie: Kie) -> None:
    assert (await kie.create(key="other"))["code"] == 401
    assert (await kie.create(key="good"))["code"] == 200


@pytest.mark.parametrize("settings", [make_settings(credits=40)])
async def test_handlers_credits_are_charged_402_when_short_and_refunded_on_failure(
    kie: Kie,
) -> None:
    async def balance() -> int:
        response = await kie.client.get("/api/v1/chat/credit", headers=AUTH)
        value: int = response.json()["data"]
        return value

    assert await balance() == 40
    await kie.create_id(local_body(rendering_speed="TURBO"))  # 12
    assert await balance() == 28
    failing = await kie.create_id(local_body(prompt="[mock:fail] a garden"))  # 18
    assert await balance() == 10
    assert (await kie.create(local_body(rendering_speed="QUALITY")))["code"] == 402
    await kie.fake.finish(failing)
    assert await balance() == 28
    assert (await kie.record(failing))["data"]["creditsConsumed"] == 0


@pytest.mark.parametrize("settings", [make_settings(rate_limit=None)])
async def test_handlers_rate_limit_can_be_off(kie: Kie) -> None:
    for _ in range(25):
        assert (await kie.create())["code"] == 200


async def test_handlers_rate_limit_is_20_per_10_s_per_key(kie: Kie) -> None:
    codes = [(await kie.create())["code"] for _ in range(21)]
    assert codes == [200] * 20 + [429]
    assert (await kie.create(key="k2"))["code"] == 200
    await kie.advance(10)
    assert (await kie.create())["code"] == 200


@pytest.mark.parametrize("settings", [make_settings(http_status="mirror")])
async def test_handlers_mirror_convention_puts_code_in_the_http_status(kie: Kie) -> None:
    response = await kie.client.get("/api/v1/jobs/recordInfo", params={"taskId": "x"}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["code"] == 422
    ok = await kie.client.get("/api/v1/chat/credit", headers=AUTH)
    assert ok.status_code == 200


async def test_handlers_download_url_gives_a_20_minute_link(kie: Kie) -> None:
    task_id = await kie.create_id()
    await kie.advance(60)
    url = json.loads((await kie.record(task_id))["data"]["resultJson"])["resultUrls"][0]
    answer = (
        await kie.client.post("/api/v1/common/download-url", json={"url": url}, headers=AUTH)
    ).json()
    assert answer["code"] == 200
    link = answer["data"]
    assert (await kie.client.get(link)).status_code == 200
    await kie.advance(20 * 60 + 1)
    assert (await kie.client.get(link)).status_code == 410


async def test_handlers_download_url_refuses_foreign_urls_and_other_keys(kie: Kie) -> None:
    foreign = await kie.client.post(
        "/api/v1/common/download-url", json={"url": "https://example.com/a.png"}, headers=AUTH
    )
    assert foreign.json()["code"] == 422
    task_id = await kie.create_id()
    await kie.advance(60)
    url = json.loads((await kie.record(task_id))["data"]["resultJson"])["resultUrls"][0]
    other = await kie.client.post(
        "/api/v1/common/download-url",
        json={"url": url},
        headers={"Authorization": "Bearer k2"},
    )
    assert other.json()["code"] == 422


async def test_handlers_result_url_expires_after_24_hours(kie: Kie) -> None:
    task_id = await kie.create_id()
    await kie.advance(60)
    url = json.loads((await kie.record(task_id))["data"]["resultJson"])["resultUrls"][0]
    assert (await kie.client.get(url)).status_code == 200
    await kie.advance(24 * 3600)
    assert (await kie.client.get(url)).status_code == 410


async def test_handlers_tampered_file_link_is_403_and_unknown_is_404(kie: Kie) -> None:
    task_id = await kie.create_id()
    await kie.advance(60)
    url = json.loads((await kie.record(task_id))["data"]["resultJson"])["resultUrls"][0]
    prefix, expires, rest = url.rsplit("/", 3)[0], url.rsplit("/", 3)[1], url.rsplit("/", 3)[2:]
    tampered = "/".join([prefix, expires + "9", *rest])
    assert (await kie.client.get(tampered)).status_code == 403
    not_ascii = "/".join([prefix, expires, "%C3%A9", rest[1]])  # é: no signature has one
    assert (await kie.client.get(not_ascii)).status_code == 403
    assert (await kie.client.get(f"{BASE}/files/{'0' * 32}/1/s/0.png")).status_code == 404
    assert (await kie.client.get(url.replace("/0.png", "/3.png"))).status_code == 404


async def test_handlers_edit_result_takes_the_size_of_its_own_input_image(kie: Kie) -> None:
    source = await kie.create_id(local_body(image_size="portrait_4_3"))
    await kie.advance(60)
    url = json.loads((await kie.record(source))["data"]["resultJson"])["resultUrls"][0]
    edit = local_body("create_task_edit.json")
    edit["input"]["image_url"] = url
    edit_id = await kie.create_id(edit)
    assert kie.fake.task(edit_id).size == (768, 1024)


async def test_handlers_unknown_path_answers_the_envelope_404(kie: Kie) -> None:
    response = await kie.unchecked.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["code"] == 404


async def test_handlers_wrong_method_is_405_with_allow(kie: Kie) -> None:
    response = await kie.unchecked.request("TRACE", "/api/v1/chat/credit")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"].split(", ")


async def test_create_task_with_input_nested_too_deep_to_check_is_a_422(kie: Kie) -> None:
    deep = "[" * 300 + "]" * 300
    content = '{"model": "ideogram/character", "input": {"prompt": ' + deep + "}}"
    response = await kie.client.post(
        "/api/v1/jobs/createTask",
        content=content.encode(),
        headers={"Authorization": "Bearer k1", "Content-Type": "application/json"},
    )
    assert response.json()["code"] == 422
    assert "nested too deeply" in response.json()["msg"]


async def test_each_provider_reads_only_its_own_tasks(kie: Kie) -> None:
    # One key on every provider of one fake: a task is read only through its own provider.
    submitted = await kie.client.post(
        "/v2/ideogram-character", json=segmind_body(), headers={"x-api-key": "k1"}
    )
    request_id = submitted.json()["request_id"]
    kie_id = await kie.create_id()
    await kie.advance(600)
    assert (await kie.record(request_id))["msg"] == "recordInfo is null"
    status = await kie.client.get(f"/v2/requests/{kie_id}/status", headers={"x-api-key": "k1"})
    assert status.status_code == 404
    job = await kie.client.get(f"/v1/jobs/{kie_id}", headers=basic("k1"))
    assert job.status_code == 404
    result = await kie.client.get(f"/v2/requests/{request_id}", headers={"x-api-key": "k1"})
    output = result.json()["output"][0]
    link = await kie.client.post("/api/v1/common/download-url", json={"url": output}, headers=AUTH)
    assert link.json()["code"] == 422  # Segmind's file: no kie task of this key


async def test_a_task_past_its_retention_is_gone_for_every_read_at_once(kie: Kie) -> None:
    task_id = await kie.create_id(local_body(prompt="[mock:seconds=0] a knight"))
    await kie.advance(1)
    url = json.loads((await kie.record(task_id))["data"]["resultJson"])["resultUrls"][0]
    retention = kie.fake.settings.retention_s
    await kie.advance(retention - 1)  # the last moment it is kept
    assert (await kie.record(task_id))["code"] == 200
    await kie.advance(1)  # past it, though no eviction has run
    assert (await kie.record(task_id))["msg"] == "recordInfo is null"
    gone = await kie.client.post("/api/v1/common/download-url", json={"url": url}, headers=AUTH)
    assert gone.json()["code"] == 422
