"""What schemathesis cannot see: authentication, assets that round-trip through their signed
URL, visibility by key, inputs the API must refuse, and a job run to its end (statuses only
forward, progress never back, output assets that download as images of the asked size), a
cancel, and a dry run."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ideogram_mock.core.images import sniff
from ideogram_mock.kit.scenario.session import (
    MODEL_PATH,
    BudgetExhausted,
    ScenarioKit,
    portrait,
)

OPERATIONS = [
    ("POST", "/v1/assets", {"json": {"name": "x.png", "image": "AAAA"}}),
    ("GET", "/v1/assets/asset_kitnothere", {}),
    ("POST", MODEL_PATH, {"json": {"prompt": "a knight"}}),
    ("GET", "/v1/jobs/job_kitnothere", {}),
    ("POST", "/v1/jobs/job_kitnothere/action", {"json": {"action": "cancel"}}),
]
NO_SECRET = "Basic " + base64.b64encode(b"contract-kit:").decode()


def _generate(kit: ScenarioKit, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = kit.generate(body)
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["job"]
    return job


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), OPERATIONS, ids=[p for _, p, _ in OPERATIONS]
)
@pytest.mark.parametrize(
    "header", [None, NO_SECRET, "Token abc"], ids=["none", "no-secret", "other"]
)
def test_auth_missing_or_malformed_credentials_are_401(
    kit: ScenarioKit, method: str, path: str, kwargs: dict[str, Any], header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = kit.request(method, path, api_key=None, headers=headers, **kwargs)
    assert response.status_code == 401, response.text


def test_an_uploaded_asset_round_trips_through_its_signed_url(kit: ScenarioKit) -> None:
    sent = base64.b64decode(portrait(3))
    response = kit.request("POST", "/v1/assets", json={"name": "kit.png", "image": portrait(3)})
    assert response.status_code == 200, response.text
    asset = response.json()["asset"]
    assert asset["properties"]["size"] == len(sent)
    again = kit.request("GET", f"/v1/assets/{asset['id']}").json()["asset"]
    assert again["id"] == asset["id"]
    content = kit.send(kit.client.build_request("GET", again["url"]))
    assert content.status_code == 200
    assert sniff(content.content) is not None
    if kit.config.other_api_key:
        hidden = kit.request("GET", f"/v1/assets/{asset['id']}", api_key=kit.config.other_api_key)
        assert hidden.status_code == 404


def test_uploads_that_are_not_images_are_refused(kit: ScenarioKit) -> None:
    for image in ("not base64!", base64.b64encode(b"plain text").decode()):
        response = kit.request("POST", "/v1/assets", json={"name": "x.png", "image": image})
        assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "change",
    [{"prompt": None}, {"aspectRatio": "7:5"}, {"resolution": "1x1"}, {"renderingSpeed": "Fast"}],
    ids=["no-prompt", "aspect-ratio", "resolution", "speed"],
)
def test_invalid_generate_inputs_are_400(kit: ScenarioKit, change: dict[str, Any]) -> None:
    body = {"prompt": "a knight", "characterReferenceImage": "asset_kitplaceholder", **change}
    response = kit.generate({k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400, response.text


def test_an_unknown_reference_asset_is_refused_naming_it(kit: ScenarioKit) -> None:
    body = {"prompt": "a knight", "characterReferenceImage": "asset_kitnothere0000000"}
    try:
        response = kit.generate(body)
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    assert 400 <= response.status_code < 500, response.text
    assert "asset_kitnothere0000000" in response.text


def test_an_unknown_job_is_404(kit: ScenarioKit) -> None:
    assert kit.request("GET", "/v1/jobs/job_kitnothere").status_code == 404


def test_a_dry_run_answers_269_with_the_cost(kit: ScenarioKit) -> None:
    reference = kit.upload()
    body = {"prompt": "a knight", "characterReferenceImage": reference}
    response = kit.generate(body, params={"dryRun": "true"})
    assert response.status_code == 269, response.text
    assert response.json()["creativeUnitsCost"] >= 0


def test_a_job_runs_to_output_assets_of_the_asked_size(kit: ScenarioKit) -> None:
    reference = kit.upload()
    job = _generate(
        kit,
        {
            "prompt": "a knight in armour",
            "characterReferenceImage": reference,
            "renderingSpeed": "Turbo",
            "resolution": "1024x768",
        },
    )
    final = kit.wait(job["jobId"])
    assert final["status"] == "success", final
    asset_ids = final["metadata"]["assetIds"]
    assert asset_ids
    asset = kit.request("GET", f"/v1/assets/{asset_ids[0]}").json()["asset"]
    content = kit.send(kit.client.build_request("GET", asset["url"]))
    picture = sniff(content.content)
    assert picture is not None and (picture.width, picture.height) == (1024, 768)
    if kit.config.other_api_key:
        hidden = kit.request("GET", f"/v1/jobs/{job['jobId']}", api_key=kit.config.other_api_key)
        assert hidden.status_code == 404


def test_a_job_can_be_canceled_before_it_ends(kit: ScenarioKit) -> None:
    reference = kit.upload()
    job = _generate(kit, {"prompt": "a knight", "characterReferenceImage": reference})
    response = kit.request("POST", f"/v1/jobs/{job['jobId']}/action", json={"action": "cancel"})
    if response.status_code == 400 and "ended" in response.text:
        pytest.skip("the job ended before the cancel arrived")
    assert response.status_code == 200, response.text
    assert response.json()["job"]["status"] == "canceled"
    assert kit.wait(job["jobId"])["status"] == "canceled"
