"""Scenario's dialect: assets with signed URLs on the fake, the generate call, jobs over its eight
statuses with progress and history, cancel, dry runs, `{"message": …}` errors, and the core's
behaviours in its words. Every answer is checked against openapi/scenario.yaml."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

import pytest
from PIL import Image

from ideogram_mock.core.sizes import ASPECT_RATIOS
from ideogram_mock.settings import RateLimit
from tests.conftest import IMAGES, ScenarioClient, basic, make_settings

pytestmark = pytest.mark.anyio
ORDER = ["pending", "queued", "warming-up", "in-progress", "finalizing"]


async def _run(scenario: ScenarioClient, **body: Any) -> dict[str, Any]:
    reference = await scenario.upload()
    response = await scenario.generate(characterReferenceImage=reference, **body)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["job"]
    return job


async def test_scenario_upload_answers_an_asset_whose_signed_url_serves_the_image(
    scenario: ScenarioClient,
) -> None:
    image = (IMAGES / "portrait.png").read_bytes()
    response = await scenario.client.post(
        "/v1/assets",
        json={"name": "me.png", "image": base64.b64encode(image).decode()},
        headers=basic("k1"),
    )
    asset = response.json()["asset"]
    assert asset["id"].startswith("asset_")
    assert (asset["mimeType"], asset["kind"], asset["source"]) == ("image/png", "image", "uploaded")
    assert asset["properties"] == {"size": len(image), "width": 512, "height": 512}
    assert asset["metadata"]["name"] == "me.png"
    content = await scenario.client.get(asset["url"])
    assert content.content == image
    assert (await scenario.get(f"/v1/assets/{asset['id']}")).json()["asset"]["id"] == asset["id"]
    other = await scenario.get(f"/v1/assets/{asset['id']}", key="k2")
    assert other.status_code == 404
    assert asset["id"] in other.json()["message"]


async def test_scenario_asset_links_are_signed_and_expire_after_an_hour(
    scenario: ScenarioClient,
) -> None:
    asset_id = await scenario.upload()
    url = (await scenario.get(f"/v1/assets/{asset_id}")).json()["asset"]["url"]
    head, sig, name = url.rsplit("/", 2)
    assert (await scenario.client.get(f"{head}/{sig}0/{name}")).status_code == 403
    assert (await scenario.client.get(f"{head}/%C3%A9/{name}")).status_code == 403  # é
    await scenario.fake.advance(3601)
    assert (await scenario.client.get(url)).status_code == 410
    fresh = (await scenario.get(f"/v1/assets/{asset_id}")).json()["asset"]["url"]
    assert (await scenario.client.get(fresh)).status_code == 200


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("not base64!", "image must match"),
        (base64.b64encode(b"plain text").decode(), "image must be a"),
        ("A" * (6 * 1024 * 1024 * 4 // 3 + 8), "under 6 MB"),
    ],
    ids=["not-base64", "not-an-image", "too-big"],
)
async def test_scenario_upload_refuses_what_is_not_an_image_under_6_mb_with_400(
    scenario: ScenarioClient, image: str, message: str
) -> None:
    response = await scenario.client.post(
        "/v1/assets", json={"name": "x.png", "image": image}, headers=basic("k1")
    )
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert response.json()["field"] == "image"


async def test_scenario_upload_accepts_a_data_url_and_webp_and_jpeg(
    scenario: ScenarioClient,
) -> None:
    for name, mime in (("portrait.webp", "image/webp"), ("portrait.jpg", "image/jpeg")):
        data = base64.b64encode((IMAGES / name).read_bytes()).decode()
        response = await scenario.client.post(
            "/v1/assets",
            json={"name": name, "image": f"data:{mime};base64,{data}"},
            headers=basic("k1"),
        )
        assert response.json()["asset"]["mimeType"] == mime


async def test_scenario_job_moves_through_its_statuses_with_rising_progress_to_output_assets(
    scenario: ScenarioClient,
) -> None:
    job = await _run(scenario, resolution="1024x768")
    assert job["status"] == "pending"
    job_id = str(job["jobId"])
    seen, progress = [], []
    for _ in range(40):
        body = (await scenario.job(job_id)).json()["job"]
        seen.append(body["status"])
        progress.append(body["progress"])
        if body["status"] == "success":
            break
        await scenario.fake.advance(0.5)
    assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == [*ORDER, "success"]
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    history = [h["status"] for h in body["statusHistory"]]
    assert history == [*ORDER, "success"]
    dates = [datetime.fromisoformat(h["date"]) for h in body["statusHistory"]]
    assert dates == sorted(dates)
    assert body["updatedAt"] == body["statusHistory"][-1]["date"]
    assert body["metadata"]["input"]["resolution"] == "1024x768"
    (output,) = body["metadata"]["assetIds"]
    asset = (await scenario.get(f"/v1/assets/{output}")).json()["asset"]
    assert asset["source"] == "txt2img"
    assert (asset["properties"]["width"], asset["properties"]["height"]) == (1024, 768)
    picture = await scenario.client.get(asset["url"])
    with Image.open(io.BytesIO(picture.content)) as image:
        assert image.size == (1024, 768)


@pytest.mark.parametrize("ratio", ["4:3", "1:3", "16:10"])
async def test_scenario_size_follows_aspect_ratio_without_a_resolution(
    scenario: ScenarioClient, ratio: str
) -> None:
    job = await _run(scenario, aspectRatio=ratio)
    task = scenario.fake.task(str(job["jobId"]))
    assert task.size == ASPECT_RATIOS[ratio]
    default = await _run(scenario)
    assert scenario.fake.task(str(default["jobId"])).size == ASPECT_RATIOS["4:3"]


async def test_scenario_inpainting_takes_the_image_size_and_resizes_the_mask(
    scenario: ScenarioClient,
) -> None:
    reference = await scenario.upload()
    image = await scenario.upload("edit_base.png")
    mask = await scenario.upload("edit_mask_wrong_size.png")
    response = await scenario.generate(
        characterReferenceImage=reference, image=image, mask=mask, resolution="1024x1024"
    )
    job_id = response.json()["job"]["jobId"]
    task = scenario.fake.task(job_id)
    with Image.open(IMAGES / "edit_base.png") as base:
        assert task.size == base.size
    assert task.failure is None
    assert task.edit is not None
    alone = await scenario.generate(characterReferenceImage=reference, image=image)
    assert alone.status_code == 400
    assert alone.json()["field"] == "mask"


async def test_scenario_the_reference_asset_decides_the_character(
    scenario: ScenarioClient,
) -> None:
    first, second = await scenario.upload(), await scenario.upload()
    a = await scenario.generate(characterReferenceImage=first, prompt="a knight")
    b = await scenario.generate(characterReferenceImage=second, prompt="a chef")
    keys = {scenario.fake.task(r.json()["job"]["jobId"]).character_key for r in (a, b)}
    assert len(keys) == 1  # the same image uploaded twice is the same character
    other = await scenario.upload("style.png")
    c = await scenario.generate(characterReferenceImage=other)
    assert scenario.fake.task(c.json()["job"]["jobId"]).character_key not in keys


async def test_scenario_generate_refuses_unknown_or_foreign_assets_naming_the_field(
    scenario: ScenarioClient,
) -> None:
    unknown = await scenario.generate(characterReferenceImage="asset_nothere")
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "characterReferenceImage"
    assert "asset_nothere" in unknown.json()["message"]
    theirs = await scenario.upload(key="k2")
    foreign = await scenario.generate(characterReferenceImage=theirs)
    assert foreign.status_code == 404
    assert len(scenario.fake.store) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": None}, "prompt"),
        ({"characterReferenceImage": None}, "characterReferenceImage"),
        ({"aspectRatio": "7:5"}, "aspectRatio"),
        ({"resolution": "1024x1000"}, "resolution"),
        ({"renderingSpeed": "Fast"}, "renderingSpeed"),
        ({"seed": -1}, "seed"),
        ({"characterReferenceImage": "https://x.test/me.png"}, "characterReferenceImage"),
    ],
)
async def test_scenario_generate_invalid_inputs_answer_400_naming_the_field(
    scenario: ScenarioClient, body: dict[str, Any], field: str
) -> None:
    reference = await scenario.upload()
    params = {"characterReferenceImage": reference, **body}
    response = await scenario.generate(**{k: v for k, v in params.items() if v is not None})
    if body.get("prompt", "") is None:
        response = await scenario.client.post(
            "/v1/generate/custom/model_ideogram-character",
            json={"characterReferenceImage": reference},
            headers=basic("k1"),
        )
    assert response.status_code == 400
    assert response.json()["field"] == field


async def test_scenario_dry_run_answers_269_with_the_cost_and_creates_nothing(
    scenario: ScenarioClient,
) -> None:
    reference = await scenario.upload()
    dry = await scenario.generate(
        params={"dryRun": "true"}, characterReferenceImage=reference, renderingSpeed="Quality"
    )
    assert dry.status_code == 269
    assert dry.json()["creativeUnitsCost"] == 24
    assert len(scenario.fake.store) == 0
    real = await scenario.generate(characterReferenceImage=reference, renderingSpeed="Quality")
    assert real.json()["creativeUnitsCost"] == 24
    assert real.json()["job"]["billing"]["cuCost"] == 24


async def test_scenario_cancel_ends_a_running_job_refunds_it_and_refuses_an_ended_one(
    scenario: ScenarioClient,
) -> None:
    job = await _run(scenario)
    await scenario.fake.advance(5)
    before = (await scenario.job(str(job["jobId"]))).json()["job"]
    assert before["status"] == "in-progress"
    url = f"/v1/jobs/{job['jobId']}/action"
    canceled = await scenario.client.post(url, json={"action": "cancel"}, headers=basic("k1"))
    body = canceled.json()["job"]
    assert body["status"] == "canceled"
    assert body["statusHistory"][-1]["status"] == "canceled"
    assert body["progress"] >= before["progress"]
    assert "assetIds" not in body["metadata"]
    await scenario.fake.advance(60)
    later = (await scenario.job(str(job["jobId"]))).json()["job"]
    assert later["status"] == "canceled"
    assert later["progress"] == body["progress"]
    again = await scenario.client.post(url, json={"action": "cancel"}, headers=basic("k1"))
    assert again.status_code == 400
    assert "already ended (canceled)" in again.json()["message"]
    unknown = await scenario.client.post(url, json={"action": "pause"}, headers=basic("k1"))
    assert unknown.status_code == 400
    accounts = (await scenario.client.get("/_mock/accounts")).json()["accounts"]
    assert accounts[0]["credits"] == 100_000  # refunded


async def test_scenario_failed_job_says_why_in_metadata_error(scenario: ScenarioClient) -> None:
    scenario.fake.rules.add({"outcome": "fail", "provider": "scenario"})
    job = await _run(scenario)
    await scenario.fake.advance(60)
    body = (await scenario.job(str(job["jobId"]))).json()["job"]
    assert body["status"] == "failure"
    assert body["metadata"]["error"] == "The generation failed"
    assert body["progress"] < 1
    assert body["statusHistory"][-1]["status"] == "failure"


async def test_scenario_auth_takes_basic_key_and_secret_or_bearer_and_401s_otherwise(
    scenario: ScenarioClient,
) -> None:
    for headers in (
        {},
        {"Authorization": "Basic " + base64.b64encode(b"k1").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"k1:").decode()},
        {"Authorization": "Basic %%%"},
        {b"Authorization": b"Basic \xff\xfe"},  # not ASCII (a 500 once)
        {"Authorization": "Basic " + base64.b64encode(b"\xff:s").decode()},  # not UTF-8
        {"Authorization": "Token k1"},
    ):
        response = await scenario.client.get("/v1/jobs/job_x", headers=headers)
        assert response.status_code == 401, headers
        assert "message" in response.json()
    bearer = await scenario.client.get("/v1/jobs/job_x", headers={"Authorization": "Bearer jwt"})
    assert bearer.status_code == 404


@pytest.mark.parametrize("settings", [make_settings(api_keys=("key-1",))])
async def test_scenario_with_fixed_keys_the_key_part_of_basic_auth_decides(
    scenario: ScenarioClient,
) -> None:
    assert (await scenario.get("/v1/jobs/job_x", key="key-2")).status_code == 401
    assert (await scenario.get("/v1/jobs/job_x", key="key-1")).status_code == 404


@pytest.mark.parametrize("settings", [make_settings(credits=17)])
async def test_scenario_short_of_credits_answers_402(scenario: ScenarioClient) -> None:
    reference = await scenario.upload()
    refused = await scenario.generate(characterReferenceImage=reference)
    assert refused.status_code == 402
    turbo = await scenario.generate(characterReferenceImage=reference, renderingSpeed="Turbo")
    assert turbo.status_code == 200


@pytest.mark.parametrize("settings", [make_settings(rate_limit=RateLimit(1, 10.0))])
async def test_scenario_over_the_rate_limit_answers_429_with_retry_after(
    scenario: ScenarioClient,
) -> None:
    reference = await scenario.upload()
    assert (await scenario.generate(characterReferenceImage=reference)).status_code == 200
    limited = await scenario.generate(characterReferenceImage=reference)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "10"
    assert limited.headers["retry-after-ms"] == "10000"


async def test_scenario_faults_and_maintenance_answer_in_scenarios_shape(
    scenario: ScenarioClient,
) -> None:
    added = await scenario.client.post("/_mock/faults", json={"endpoint": "getJob", "code": 409})
    assert added.status_code == 201, added.text
    job = await _run(scenario)
    conflict = await scenario.job(str(job["jobId"]))
    assert conflict.status_code == 409
    assert conflict.json() == {"message": "Conflict"}
    await scenario.client.put("/_mock/maintenance", json={"enabled": True})
    down = await scenario.job(str(job["jobId"]))
    assert down.status_code == 503


async def test_scenario_jobs_show_in_the_control_api_and_other_keys_cannot_see_them(
    scenario: ScenarioClient,
) -> None:
    job = await _run(scenario)
    assert (await scenario.job(str(job["jobId"]), key="k2")).status_code == 404
    view = (await scenario.client.post(f"/_mock/tasks/{job['jobId']}/finish")).json()
    assert (view["provider"], view["state"], view["stage"]) == ("scenario", "success", "succeeded")
    assert view["model"] == "model_ideogram-character"


async def test_scenario_upload_of_a_png_with_a_broken_checksum_is_a_400_not_a_500(
    scenario: ScenarioClient,
) -> None:
    broken = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
        "0000000c4944415478da63f8cfc000000301010018dd8db00000000049454e44ae426082"
    )
    response = await scenario.client.post(
        "/v1/assets",
        json={"name": "x.png", "image": base64.b64encode(broken).decode()},
        headers=basic("k1"),
    )
    assert response.status_code == 400
    assert response.json()["field"] == "image"
