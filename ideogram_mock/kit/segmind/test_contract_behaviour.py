"""What schemathesis cannot see: authentication, errors in `{"error": …}`, visibility by key,
the v1 image, and the v2 queue's lifecycle: absolute URLs, statuses that only move forward, a
result to download, and FAILED served with HTTP 422."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ideogram_mock.core.images import sniff
from ideogram_mock.kit.cases import describe
from ideogram_mock.kit.findings import BREAKING, Finding
from ideogram_mock.kit.segmind.session import LIFECYCLE_MARK, BudgetExhausted, SegmindKit

V1 = "/v1/ideogram-character"
V2 = "/v2/ideogram-character"
UNKNOWN = str(uuid.UUID(int=0, version=4))
OPERATIONS = [
    ("POST", V1, {"json": {"prompt": "a knight"}}),
    ("POST", V2, {"json": {"prompt": "a knight"}}),
    ("GET", f"/v2/requests/{UNKNOWN}/status", {}),
    ("GET", f"/v2/requests/{UNKNOWN}", {}),
    ("GET", "/v1/get-user-credits", {}),
]


def _error(kit: SegmindKit, response: httpx.Response, status: int) -> str:
    """The `error` message of a refusal with this status (a finding when it is not one)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("error") if isinstance(body, dict) else None
    problem = None
    if response.status_code != status:
        problem = f"HTTP {response.status_code}, expected {status}"
    elif not isinstance(message, str) or not message:
        problem = f"HTTP {status} without an error message: {response.text[:120]!r}"
    if problem is not None:
        where = f"{response.request.method} {response.request.url.path}"
        kit.findings.add(
            Finding(BREAKING, "error-shape", where, problem, describe(response.request))
        )
        pytest.fail(f"{where}: {problem}")
    assert isinstance(message, str)
    return message


def _submit(kit: SegmindKit, body: dict[str, Any], api_key: str | None = "default") -> Any:
    try:
        response = kit.request("POST", V2, api_key, json=body)
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), OPERATIONS, ids=[p for _, p, _ in OPERATIONS]
)
@pytest.mark.parametrize("header", [None, "Bearer"], ids=["no-key", "bearer-instead"])
def test_auth_missing_key_is_401_with_an_error(
    kit: SegmindKit, method: str, path: str, kwargs: dict[str, Any], header: str | None
) -> None:
    headers = {"Authorization": f"Bearer {kit.config.api_key}"} if header else {}
    response = kit.request(method, path, api_key=None, headers=headers, **kwargs)
    _error(kit, response, 401)


def test_auth_unknown_key_is_401_on_the_real_endpoint(kit: SegmindKit) -> None:
    if not kit.config.live:
        pytest.skip("the fake (without --api-key) takes any non-empty key as its own account")
    _error(kit, kit.request("GET", "/v1/get-user-credits", api_key="SG_0000000000000000"), 401)


@pytest.mark.parametrize(
    "change",
    [{"prompt": None}, {"aspect_ratio": "7:5"}, {"seed": 5}, {"resolution": "1x1"}],
    ids=["no-prompt", "aspect-ratio", "seed", "resolution"],
)
def test_v1_invalid_parameters_are_422_with_an_error_and_spend_nothing(
    kit: SegmindKit, change: dict[str, Any]
) -> None:
    response = kit.request("POST", V1, json=kit.body(**change))
    _error(kit, response, 422)


def test_v2_unknown_request_is_404_with_an_error(kit: SegmindKit) -> None:
    for path in (f"/v2/requests/{UNKNOWN}/status", f"/v2/requests/{UNKNOWN}"):
        _error(kit, kit.request("GET", path), 404)


def test_credits_answer_the_balance(kit: SegmindKit) -> None:
    response = kit.request("GET", "/v1/get-user-credits")
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["credits"], int | float)


def test_v1_answers_an_image_of_the_asked_resolution(kit: SegmindKit) -> None:
    try:
        response = kit.request("POST", V1, json=kit.body(resolution="1024x896"))
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    assert response.status_code == 200, response.text
    picture = sniff(response.content)
    assert picture is not None, "the v1 answer is not an image"
    assert (picture.width, picture.height) == (1024, 896)


def test_v2_runs_to_a_result_with_absolute_urls_and_statuses_only_moving_forward(
    kit: SegmindKit,
) -> None:
    prompt = f"a knight in armour {LIFECYCLE_MARK}"
    submitted = _submit(kit, kit.body(prompt=prompt, resolution="1152x896"))
    assert submitted["status"] == "QUEUED"
    for name in ("status_url", "response_url"):
        assert submitted[name].startswith(("http://", "https://")), submitted[name]
    final = kit.wait(submitted["status_url"])
    body = final.json()
    assert final.status_code == 200, final.text
    assert body["status"] == "COMPLETED"
    result = kit.request("GET", submitted["response_url"])
    assert result.status_code == 200, result.text
    output = result.json()["output"]
    image = kit.client.get(output)
    assert image.status_code == 200
    picture = sniff(image.content)
    assert picture is not None and (picture.width, picture.height) == (1152, 896)


def test_v2_failed_request_is_422_with_status_failed_and_an_error(kit: SegmindKit) -> None:
    # Parameters the worker refuses: Segmind queues them and fails them (its own example).
    submitted = _submit(kit, {"character_reference_image": kit.reference})
    final = kit.wait(submitted["status_url"])
    assert final.json().get("status") == "FAILED", final.text
    assert final.status_code == 422
    _error(kit, final, 422)
    result = kit.request("GET", submitted["response_url"])
    assert result.status_code == 422
    assert result.json()["status"] == "FAILED"


def test_v2_requests_are_invisible_to_other_keys(kit: SegmindKit) -> None:
    if not kit.config.other_api_key:
        pytest.skip("needs a second key (SEGMIND_OTHER_API_KEY / CONTRACT_OTHER_API_KEY)")
    submitted = _submit(kit, kit.body())
    _error(kit, kit.request("GET", submitted["status_url"], api_key=kit.config.other_api_key), 404)
