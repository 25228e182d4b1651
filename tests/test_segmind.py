"""Segmind's dialect: the v1 call that answers with the image, the v2 queue, credits, errors in
`{"error": …}` with Segmind's statuses, and the core's behaviours (keys, credits, rules, clock)
in its words. Every answer is checked against openapi/segmind.yaml (the fixture's hook)."""

from __future__ import annotations

import io
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from ideogram_mock.providers.segmind.models import ASPECT_RATIOS, MISSING_KEY
from ideogram_mock.server.spec import load_spec
from ideogram_mock.settings import RateLimit
from tests.conftest import SEGMIND_BASE, Segmind, local_body, make_settings, segmind_body

IMAGES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
pytestmark = pytest.mark.anyio
RESOLUTIONS = load_spec("segmind.yaml").document["components"]["schemas"]["Resolution"]["enum"]


def _size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as img:
        assert img.format == "JPEG"
        return img.size


# ---- v1: the synchronous call ---------------------------------------------------------------
async def test_segmind_v1_answers_the_model_page_example_with_a_jpeg_of_its_resolution(
    segmind: Segmind,
) -> None:
    response = await segmind.generate()
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert _size(response.content) == (512, 1536)
    assert response.headers["x-cost"] == "0.25"
    assert float(response.headers["x-remaining-credits"]) == pytest.approx(500 - 0.25)
    assert response.headers["x-generation-time"] == "0"  # a manual clock never waits
    request_id = uuid.UUID(response.headers["x-request-id"])
    assert request_id.version == 4
    assert 100 <= int(response.headers["x-seed-value"]) <= 999_999


@pytest.mark.parametrize("ratio", sorted(ASPECT_RATIOS))
async def test_segmind_v1_without_a_resolution_sizes_by_aspect_ratio_at_about_a_megapixel(
    segmind: Segmind, ratio: str
) -> None:
    response = await segmind.generate(json=segmind_body(resolution="None", aspect_ratio=ratio))
    width, height = _size(response.content)
    wide, high = (int(n) for n in ratio.split(":"))
    assert width / height == pytest.approx(wide / high, rel=0.04)
    assert 0.7e6 <= width * height <= 1.1e6


@pytest.mark.parametrize("settings", [make_settings(rate_limit=None)])
async def test_segmind_v1_accepts_all_69_resolutions_and_draws_each_at_its_size(
    segmind: Segmind,
) -> None:
    sizes = [r for r in RESOLUTIONS if r != "None"]
    assert len(sizes) == 69
    for resolution in sizes:
        response = await segmind.generate(json=segmind_body(resolution=resolution, seed=4242))
        assert response.status_code == 200, response.text
        assert _size(response.content) == tuple(int(n) for n in resolution.split("x"))


async def test_segmind_v1_resolution_defaults_to_512x1536_and_wins_over_aspect_ratio(
    segmind: Segmind,
) -> None:
    plain = await segmind.generate(json=segmind_body(resolution=None, aspect_ratio="1:1"))
    assert _size(plain.content) == (512, 1536)
    both = await segmind.generate(json=segmind_body(resolution="1024x1024", aspect_ratio="16:9"))
    assert _size(both.content) == (1024, 1024)


async def test_segmind_v1_multipart_uploads_decide_the_character_and_inpaint_at_the_image_size(
    segmind: Segmind,
) -> None:
    portrait = (IMAGES / "portrait.png").read_bytes()
    base, mask = (IMAGES / "edit_base.png").read_bytes(), (IMAGES / "edit_mask.png").read_bytes()
    form = {"prompt": "a knight", "resolution": "1024x1024", "seed": "1234"}
    files = {
        "character_reference_image": ("me.png", portrait, "image/png"),
        "image": ("base.png", base, "image/png"),
        "mask": ("mask.png", mask, "image/png"),
    }
    response = await segmind.generate(json=None, data=form, files=files)
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(base)) as picture:
        assert _size(response.content) == picture.size  # resolution is ignored when inpainting
    assert response.headers["x-seed-value"] == "1234"
    task = segmind.fake.task(response.headers["x-request-id"])
    assert task.edit is not None
    # The same uploaded reference is the same character, whatever the URL-less request.
    again = await segmind.generate(
        json=None,
        data={"prompt": "a queen"},
        files={"character_reference_image": ("other-name.png", portrait, "image/png")},
    )
    assert segmind.fake.task(again.headers["x-request-id"]).character_key == task.character_key
    view = segmind.fake.dialects["segmind"].request_view(task)
    assert view["character_reference_image"] == f"(file me.png, {len(portrait)} bytes)"


async def test_segmind_v1_multipart_upload_that_is_not_an_image_fails_with_422(
    segmind: Segmind,
) -> None:
    files = {"character_reference_image": ("x.png", b"not an image", "image/png")}
    response = await segmind.generate(json=None, data={"prompt": "a knight"}, files=files)
    assert response.status_code == 422
    assert "jpeg, png or webp" in response.json()["error"]


# ---- v1: errors -----------------------------------------------------------------------------
async def test_segmind_without_a_key_is_refused_with_401_naming_the_header(
    segmind: Segmind,
) -> None:
    for response in (await segmind.generate(key=None), await segmind.submit(key=None)):
        assert response.status_code == 401
        assert response.json() == {"error": MISSING_KEY}
    bearer = await segmind.client.post(
        "/v1/ideogram-character", json=segmind_body(), headers={"Authorization": "Bearer k1"}
    )
    assert bearer.status_code == 401


@pytest.mark.parametrize("settings", [make_settings(api_keys=("SG_3ec0a235721add59",))])
async def test_segmind_with_fixed_keys_refuses_any_other_key_with_401(segmind: Segmind) -> None:
    refused = await segmind.generate(key="SG_0000000000000000")
    assert refused.status_code == 401
    assert "invalid" in refused.json()["error"]
    assert (await segmind.generate(key="SG_3ec0a235721add59")).status_code == 200


@pytest.mark.parametrize("settings", [make_settings(credits=49)])
async def test_segmind_short_of_credits_answers_406_and_charges_nothing(
    segmind: Segmind,
) -> None:
    refused = await segmind.generate()  # Quality costs 50 credits ($0.25)
    assert refused.status_code == 406
    assert refused.json()["error"].startswith("Insufficient credits")
    turbo = await segmind.generate(json=segmind_body(rendering_speed="Turbo"))  # 25 credits
    assert turbo.status_code == 200
    assert float(turbo.headers["x-remaining-credits"]) == pytest.approx(24 * 0.005)
    assert (await segmind.submit()).status_code == 406


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"prompt": None}, "prompt is required"),
        ({"character_reference_image": None}, "character_reference_image is required"),
        ({"aspect_ratio": "7:5"}, "aspect_ratio must be one of"),
        ({"resolution": "1000x1000"}, "resolution must be one of"),
        ({"rendering_speed": "Fast"}, "rendering_speed must be one of"),
        ({"seed": 5}, "seed must be at least 100"),
        ({"seed": "12345"}, "seed must be of type"),
        ({"character_reference_image": "not a uri"}, "character_reference_image must be a valid"),
    ],
)
async def test_segmind_v1_invalid_parameters_answer_422_naming_the_field(
    segmind: Segmind, change: dict[str, object], named: str
) -> None:
    response = await segmind.generate(json=segmind_body(**change))
    assert response.status_code == 422
    assert named in response.json()["error"]
    assert len(segmind.fake.store) == 0


async def test_segmind_unreadable_bodies_are_refused_in_segminds_shape(segmind: Segmind) -> None:
    garbled = await segmind.generate(json=None, content=b"{nope", headers={"x-api-key": "k"})
    assert garbled.status_code == 400
    listed = await segmind.generate(json=[1, 2])
    assert listed.status_code == 422
    huge = await segmind.generate(json=segmind_body(prompt="x" * 2_000_000))
    assert huge.status_code == 413
    assert set(huge.json()) == {"error"}


@pytest.mark.parametrize("settings", [make_settings(rate_limit=RateLimit(2, 10.0))])
async def test_segmind_over_the_rate_limit_answers_429_with_the_reset_time(
    segmind: Segmind,
) -> None:
    assert (await segmind.submit()).status_code == 200
    assert (await segmind.generate()).status_code == 200
    limited = await segmind.submit()
    assert limited.status_code == 429
    assert "error" in limited.json()
    reset = datetime.fromisoformat(limited.headers["x-rate-limit-reset-at-utc"])
    assert reset.timestamp() * 1000 == segmind.fake.clock.now_ms() + 10_000
    assert "retry-after" not in limited.headers
    await segmind.advance(10)
    assert (await segmind.submit()).status_code == 200


async def test_segmind_prompt_trigger_fails_the_v1_call_with_segminds_words(
    segmind: Segmind,
) -> None:
    failed = await segmind.generate(json=segmind_body(prompt="a knight [mock:fail]"))
    assert failed.status_code == 500
    assert failed.json() == {"error": "Inference failed"}
    credits = await segmind.get("/v1/get-user-credits")
    assert credits.json()["credits"] == pytest.approx(500.0)  # a failed call is not billed


@pytest.mark.parametrize("settings", [make_settings(clock="real", time_scale=0.02)])
async def test_segmind_v1_with_the_real_clock_answers_after_the_scaled_generation_time(
    segmind: Segmind,
) -> None:
    started = time.monotonic()
    response = await segmind.generate(json=segmind_body(rendering_speed="Turbo"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    took = float(response.headers["x-generation-time"])
    assert took == pytest.approx((1 + 2 + 8) * 0.02, abs=0.01)
    assert elapsed >= took - 0.01


# ---- v2: the queue --------------------------------------------------------------------------
async def test_segmind_v2_moves_queued_processing_completed_and_serves_its_output(
    segmind: Segmind,
) -> None:
    submitted = (await segmind.submit(json=segmind_body(resolution="1024x896"))).json()
    request_id = submitted["request_id"]
    assert uuid.UUID(request_id).version == 4
    assert submitted["status"] == "QUEUED"
    assert submitted["status_url"] == f"{SEGMIND_BASE}/v2/requests/{request_id}/status"
    assert submitted["response_url"] == f"{SEGMIND_BASE}/v2/requests/{request_id}"
    assert submitted["poll_url"] == f"{SEGMIND_BASE}/v1/requests/{request_id}"

    seen = []
    for step in (0, 2, 5, 20):
        await segmind.advance(step)
        status = (await segmind.get(submitted["status_url"])).json()
        seen.append(status["status"])
        if status["status"] != "COMPLETED":
            pending = (await segmind.get(submitted["response_url"])).json()
            assert pending["status"] == status["status"]
            assert "output" not in pending
    assert seen == ["QUEUED", "QUEUED", "PROCESSING", "COMPLETED"]
    assert status["metrics"]["total_time"] == pytest.approx(23.0)

    result = (await segmind.get(submitted["response_url"])).json()
    assert result["status"] == "COMPLETED"
    assert result["metrics"] == status["metrics"]
    assert (await segmind.get(submitted["poll_url"])).json() == result
    image = await segmind.client.get(result["output"])
    assert image.status_code == 200
    with Image.open(io.BytesIO(image.content)) as picture:
        assert picture.size == (1024, 896)


async def test_segmind_v2_failed_request_answers_422_with_its_error_on_status_and_result(
    segmind: Segmind,
) -> None:
    segmind.fake.rules.add({"outcome": "fail", "provider": "segmind"})
    submitted = (await segmind.submit()).json()
    await segmind.advance(60)
    for url in (submitted["status_url"], submitted["response_url"]):
        failed = await segmind.get(url)
        assert failed.status_code == 422
        body = failed.json()
        assert body["status"] == "FAILED"
        assert body["error"] == "Inference failed"
        assert "output" not in body
    credits = (await segmind.get("/v1/get-user-credits")).json()
    assert credits["credits"] == pytest.approx(500.0)


async def test_segmind_v2_invalid_parameters_queue_then_fail_with_the_message_unbilled(
    segmind: Segmind,
) -> None:
    submitted = await segmind.submit(json=segmind_body(prompt=None))
    assert submitted.status_code == 200
    url = submitted.json()["status_url"]
    await segmind.advance(0.25)
    failed = await segmind.get(url)
    assert failed.status_code == 422
    assert failed.json()["error"] == "prompt is required"
    assert failed.json()["metrics"]["total_time"] == pytest.approx(0.25)
    assert (await segmind.get("/v1/get-user-credits")).json()["credits"] == pytest.approx(500.0)


async def test_segmind_v2_requests_are_the_callers_only_and_expire_after_an_hour(
    segmind: Segmind,
) -> None:
    submitted = (await segmind.submit()).json()
    other = await segmind.get(submitted["status_url"], key="k2")
    assert other.status_code == 404
    assert other.json() == {"error": f"Request {submitted['request_id']} not found"}
    unknown = await segmind.get(f"/v2/requests/{uuid.uuid4()}")
    assert unknown.status_code == 404
    await segmind.advance(3599)
    assert (await segmind.get(submitted["response_url"])).status_code == 200
    await segmind.advance(2)
    for url in (submitted["status_url"], submitted["response_url"], submitted["poll_url"]):
        gone = await segmind.get(url)
        assert gone.status_code == 404
        assert "not found" in gone.json()["error"]


# ---- shared behaviours of the core ----------------------------------------------------------
async def test_segmind_and_kie_share_each_keys_credits_in_their_own_units(
    segmind: Segmind,
) -> None:
    before = (await segmind.get("/v1/get-user-credits")).json()
    assert before == {"credits": 500.0, "free-credits": 0.0}
    created = await segmind.client.post(
        "/api/v1/jobs/createTask", json=local_body(), headers={"Authorization": "Bearer k1"}
    )
    assert created.json()["code"] == 200
    after = (await segmind.get("/v1/get-user-credits")).json()
    assert after["credits"] == pytest.approx((100_000 - 18) * 0.005)


async def test_segmind_fault_rules_answer_in_segminds_shape_and_codes(segmind: Segmind) -> None:
    rule = await segmind.client.post(
        "/_mock/faults", json={"endpoint": "status", "code": 504, "times": 1}
    )
    assert rule.status_code == 201, rule.text
    submitted = (await segmind.submit()).json()
    faulted = await segmind.get(submitted["status_url"])
    assert faulted.status_code == 504
    assert faulted.json() == {"error": "Gateway timeout"}
    assert (await segmind.get(submitted["status_url"])).status_code == 200
    kie_code = await segmind.client.post("/_mock/faults", json={"endpoint": "submit", "code": 402})
    assert kie_code.status_code == 422
    assert "code must be one of" in kie_code.json()["error"]
    wrong = await segmind.client.post(
        "/_mock/faults", json={"endpoint": "createTask", "code": 429, "provider": "segmind"}
    )
    assert wrong.status_code == 422
    assert "endpoint must be one of" in wrong.json()["error"]
    gateway = await segmind.client.post(
        "/_mock/faults", json={"endpoint": "generate", "kind": "gateway"}
    )
    assert gateway.status_code == 201
    page = await segmind.generate()
    assert page.status_code == 502
    assert page.headers["content-type"].startswith("text/html")


async def test_segmind_maintenance_answers_503(segmind: Segmind) -> None:
    await segmind.client.put("/_mock/maintenance", json={"enabled": True})
    response = await segmind.generate()
    assert response.status_code == 503
    assert "maintenance" in response.json()["error"]


async def test_segmind_tasks_show_in_the_control_api_in_segminds_words(segmind: Segmind) -> None:
    submitted = (await segmind.submit()).json()
    view = (await segmind.client.post(f"/_mock/tasks/{submitted['request_id']}/finish")).json()
    assert view["provider"] == "segmind"
    assert view["state"] == "COMPLETED"
    assert view["model"] == "ideogram-character"
    assert view["input"] == segmind_body()
    listed = (await segmind.client.get("/_mock/tasks", params={"state": "COMPLETED"})).json()
    assert listed["count"] == 1
    journal = (await segmind.client.get("/_mock/requests", params={"provider": "segmind"})).json()
    assert [e["operationId"] for e in journal["requests"]] == ["submit"]


async def test_segmind_unknown_paths_answer_in_segminds_shape(segmind: Segmind) -> None:
    response = await segmind.unchecked.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


async def test_segmind_pictures_keep_the_character_of_one_reference(segmind: Segmind) -> None:
    keys = set()
    for prompt in ("a knight", "a chef", "a pilot"):
        response = await segmind.generate(json=segmind_body(prompt=prompt))
        keys.add(segmind.fake.task(response.headers["x-request-id"]).character_key)
    assert len(keys) == 1
    other = await segmind.generate(
        json=segmind_body(character_reference_image="http://127.0.0.1:9/someone-else.png")
    )
    assert segmind.fake.task(other.headers["x-request-id"]).character_key not in keys


async def test_segmind_a_body_nested_too_deep_to_check_is_refused_with_422(
    segmind: Segmind,
) -> None:
    deep = "[" * 300 + "]" * 300
    reference = '"character_reference_image": "http://127.0.0.1:9/a.png"'
    content = '{"prompt": ' + deep + ", " + reference + "}"
    headers = {"content-type": "application/json"}
    for call in (segmind.generate, segmind.submit):
        response = await call(json=None, content=content.encode(), headers=headers)
        assert response.status_code == 422
        assert response.json() == {"error": "body is nested too deeply to check"}
