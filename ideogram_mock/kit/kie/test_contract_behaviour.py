"""What schemathesis cannot see: authentication, visibility by key, validation through the
envelope, and each model's lifecycle to a terminal state with its results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ideogram_mock.core.images import sniff
from ideogram_mock.kit.cases import describe
from ideogram_mock.kit.findings import ADDITIVE, BREAKING, Finding
from ideogram_mock.kit.kie.data import FAKE_RULES, body_for, catalogue
from ideogram_mock.kit.kie.session import BudgetExhausted, KitSession
from ideogram_mock.providers.kie.models import DEFAULT_SIZE, IMAGE_SIZES

MODELS = ["ideogram/character", "ideogram/character-edit", "ideogram/character-remix"]
OPERATIONS = [
    ("POST", "/api/v1/jobs/createTask", {"json": {"model": "ideogram/character"}}),
    ("GET", "/api/v1/jobs/recordInfo", {"params": {"taskId": "0" * 32}}),
    ("GET", "/api/v1/chat/credit", {}),
    ("POST", "/api/v1/common/download-url", {"json": {"url": "https://example.com/a.png"}}),
]
CASES = catalogue()


def _envelope(response: Any) -> dict[str, Any]:
    body = response.json()
    assert isinstance(body, dict), body
    return body


def _create(kit: KitSession, body: dict[str, Any], api_key: str | None = "default") -> str:
    try:
        answer = _envelope(kit.request("POST", "/api/v1/jobs/createTask", api_key, json=body))
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    assert answer["code"] == 200, answer
    return str(answer["data"]["taskId"])


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), OPERATIONS, ids=[p for _, p, _ in OPERATIONS]
)
@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc"], ids=["no-key", "empty", "basic"])
def test_auth_missing_or_malformed_key_is_401(
    kit: KitSession, method: str, path: str, kwargs: dict[str, Any], header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = kit.request(method, path, api_key=None, headers=headers, **kwargs)
    assert _envelope(response)["code"] == 401


def test_auth_unknown_key_is_401_on_the_real_endpoint(kit: KitSession) -> None:
    if not kit.config.live:
        pytest.skip("the fake (without --api-key) takes any non-empty key as its own account")
    response = kit.request("GET", "/api/v1/chat/credit", api_key="kit-not-a-real-key-0000")
    assert _envelope(response)["code"] == 401


def test_credit_is_a_balance(kit: KitSession) -> None:
    answer = _envelope(kit.request("GET", "/api/v1/chat/credit"))
    assert answer["code"] == 200
    assert isinstance(answer["data"], int | float)
    assert answer["data"] >= 0


def test_unknown_task_is_not_found(kit: KitSession) -> None:
    answer = _envelope(kit.record("f" * 32))
    assert (answer["code"], answer["data"]) in ((422, None), (404, None)), answer


def test_missing_task_id_is_400(kit: KitSession) -> None:
    answer = _envelope(kit.request("GET", "/api/v1/jobs/recordInfo"))
    assert answer["code"] == 400, answer


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_invalid_body_is_rejected_through_the_envelope(
    kit: KitSession, case: dict[str, Any]
) -> None:
    if kit.config.live and kit.config.read_only and not case["documented"]:
        pytest.skip("read-only: a body the real API might accept would spend credits")
    request = kit.client.build_request(
        "POST", "/api/v1/jobs/createTask", headers=kit.headers(), json=case["body"]
    )
    try:
        answer = _envelope(kit.send(request))
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    if answer["code"] == 200 and case["rule"] in FAKE_RULES:
        # Unknown fields: ignoring them is the spec's default (x-observed), refusing them is
        # allowed too (--strict-fields); neither is drift.
        return
    if answer["code"] == 200:
        severity = BREAKING if case["documented"] else ADDITIVE
        message = f"accepted {case['name']} ({case['field']} breaks {case['rule']})"
        kit.findings.add(
            Finding(severity, "accepted-invalid", "createTask", message, describe(request))
        )
        if case["documented"]:
            pytest.fail(message)
        pytest.skip(f"the endpoint accepts what the fake refuses: {message}")
    assert answer["code"] in (400, 422), answer
    if case["rule"] == "unknown-model":
        assert answer["msg"] == "The page does not exist or is not published"
    elif case["field"] and not kit.config.live:
        assert case["field"] in answer["msg"], answer["msg"]


def test_created_task_is_readable_by_its_creator_and_no_other_key(kit: KitSession) -> None:
    if kit.config.other_api_key is None:
        pytest.skip("needs a second key (KIE_OTHER_API_KEY)")
    task_id = _create(kit, body_for(MODELS[0], kit.config))
    mine = _envelope(kit.readable(task_id))
    assert mine["code"] == 200
    assert mine["data"]["taskId"] == task_id
    theirs = _envelope(kit.record(task_id, api_key=kit.config.other_api_key))
    assert theirs["code"] in (422, 404), theirs
    assert theirs["data"] is None


@pytest.mark.parametrize("model", MODELS)
def test_lifecycle_each_model_reaches_success_with_its_images(kit: KitSession, model: str) -> None:
    body = body_for(model, kit.config)
    task_id = _create(kit, body)
    record = kit.run_to_end(task_id)
    assert record["state"] == "success", record
    urls = json.loads(record["resultJson"])["resultUrls"]
    width, height = IMAGE_SIZES.get(body["input"].get("image_size", ""), DEFAULT_SIZE)
    for url in urls:
        picture = sniff(kit.client.get(url).content)
        assert picture is not None, f"{url} is not an image"
        assert picture.fmt in ("png", "jpeg", "webp")
        if model != "ideogram/character-edit":
            promised = (width, height)
            if (picture.width, picture.height) != promised:
                message = f"{model} image is {picture.width}×{picture.height}, promised {promised}"
                kit.findings.add(Finding(BREAKING, "image-size", "result", message, url))
                pytest.fail(message)
    again = _envelope(kit.record(task_id))["data"]
    assert {k: again.get(k) for k in ("state", "completeTime", "param")} == {
        k: record.get(k) for k in ("state", "completeTime", "param")
    }
    mine = [f for f in kit.findings.breaking() if task_id in f.message or task_id in f.request]
    assert not mine, [f.message for f in mine]


def test_failed_task_carries_fail_code_and_message(kit: KitSession) -> None:
    if kit.config.live:
        pytest.skip("a failure cannot be ordered from the real endpoint")
    task_id = _create(kit, body_for(MODELS[0], kit.config, prompt="[mock:fail=500] a knight"))
    record = kit.run_to_end(task_id)
    assert record["state"] == "fail"
    assert record["failCode"] == "500"
    assert record["failMsg"]
    assert record["resultJson"] in (None, "")


def test_download_url_renews_a_result_and_refuses_foreign_urls(kit: KitSession) -> None:
    foreign = _envelope(
        kit.request(
            "POST", "/api/v1/common/download-url", json={"url": "https://example.com/a.png"}
        )
    )
    assert foreign["code"] == 422, foreign
    if kit.config.live and kit.config.read_only:
        pytest.skip("read-only: no result to renew")
    task_id = _create(kit, body_for(MODELS[0], kit.config))
    record = kit.run_to_end(task_id)
    url = json.loads(record["resultJson"])["resultUrls"][0]
    fresh = _envelope(kit.request("POST", "/api/v1/common/download-url", json={"url": url}))
    assert fresh["code"] == 200, fresh
    assert sniff(kit.client.get(fresh["data"]).content) is not None
