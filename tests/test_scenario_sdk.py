"""Scenario's official SDK (PyPI `scenario-sdk`), unmodified and with its strict response
validation on, against the fake: in-process through `scenario_mock` (no base_url needed) and
over a socket through `scenario_server`. Every answer the SDK receives is also checked against
openapi/scenario.yaml (a response hook on its own httpx client)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import scenario_sdk
from PIL import Image
from scenario_sdk import Scenario

from ideogram_mock.testing.handle import Handle
from tests.conftest import IMAGES, assert_conforms

MODEL = "model_ideogram-character"


def _client(**options: Any) -> Scenario:
    """The SDK with strict validation, every answer also checked against the spec."""

    def check(response: httpx.Response) -> None:
        response.read()
        assert_conforms(response)

    options.setdefault("api_key", "test-key")
    options.setdefault("api_secret", "test-secret")
    http = httpx.Client(event_hooks={"response": [check]})
    return Scenario(_strict_response_validation=True, http_client=http, **options)


@pytest.fixture
def sdk(scenario_mock: Handle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scenario]:
    for name in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    client = _client()
    yield client
    client.close()


def _upload(client: Scenario, name: str = "portrait.png") -> str:
    image = base64.b64encode((IMAGES / name).read_bytes()).decode()
    return client.assets.upload(name=name, image=image).asset.id


def test_scenario_sdk_uploads_generates_polls_and_downloads_the_output(
    sdk: Scenario, scenario_mock: Handle
) -> None:
    reference = _upload(sdk)
    assert sdk.assets.retrieve(reference).asset.properties.width == 512
    generated = sdk.generate.run_model(
        MODEL,
        body={"prompt": "a knight", "characterReferenceImage": reference, "resolution": "768x1024"},
    )
    job_id = generated.job.job_id
    statuses = []
    for _ in range(60):
        job = sdk.jobs.retrieve(job_id).job
        statuses.append(job.status)
        if job.status == "success":
            break
        scenario_mock.advance(0.5)
    assert statuses[0] == "pending"
    assert {"queued", "warming-up", "in-progress", "finalizing"} <= set(statuses)
    assert job.progress == 1.0
    assert job.status_history[-1].status == "success"
    assert job.metadata.asset_ids is not None
    output = sdk.assets.retrieve(job.metadata.asset_ids[0]).asset
    content = httpx.get(output.url).content  # the signed url, served in-process
    with Image.open(io.BytesIO(content)) as picture:
        assert picture.size == (768, 1024)
    assert scenario_mock.task(job_id)["provider"] == "scenario"


def test_scenario_sdk_cancels_a_running_job(sdk: Scenario, scenario_mock: Handle) -> None:
    reference = _upload(sdk)
    job = sdk.generate.run_model(
        MODEL, body={"prompt": "a knight", "characterReferenceImage": reference}
    ).job
    scenario_mock.advance(5)
    canceled = sdk.jobs.trigger_action(job.job_id, action="cancel").job
    assert canceled.status == "canceled"
    assert sdk.jobs.retrieve(job.job_id).job.status == "canceled"


def test_scenario_sdk_raises_its_error_types(sdk: Scenario, scenario_mock: Handle) -> None:
    with pytest.raises(scenario_sdk.NotFoundError) as missing:
        sdk.jobs.retrieve("job_doesnotexist")
    assert missing.value.status_code == 404
    with pytest.raises(scenario_sdk.BadRequestError) as invalid:
        sdk.generate.run_model(MODEL, body={"prompt": "a knight"})
    assert invalid.value.body == {
        "message": "characterReferenceImage is required",
        "field": "characterReferenceImage",
    }
    with pytest.raises(scenario_sdk.NotFoundError):
        sdk.generate.run_model(
            MODEL, body={"prompt": "a knight", "characterReferenceImage": "asset_unknown"}
        )
    anonymous = _client(api_key="", api_secret="", max_retries=0)
    with anonymous, pytest.raises(scenario_sdk.AuthenticationError) as refused:
        anonymous.jobs.retrieve("job_x")
    assert refused.value.status_code == 401


def test_scenario_sdk_retries_a_server_error_and_succeeds(
    sdk: Scenario, scenario_mock: Handle
) -> None:
    scenario_mock.fault("getJob", 500, times=1)
    reference = _upload(sdk)
    job = sdk.generate.run_model(
        MODEL, body={"prompt": "a knight", "characterReferenceImage": reference}
    ).job
    assert sdk.jobs.retrieve(job.job_id).job.job_id == job.job_id  # the second attempt
    attempts = [r for r in scenario_mock.requests if r["operationId"] == "getJob"]
    assert [r["status"] for r in attempts] == [500, 200]


def test_scenario_sdk_dry_run_answers_269_with_the_cost(sdk: Scenario) -> None:
    reference = _upload(sdk)
    raw = sdk.generate.with_raw_response.run_model(
        MODEL,
        body={"prompt": "a knight", "characterReferenceImage": reference},
        dry_run="true",
    )
    assert raw.http_response.status_code == 269
    assert raw.http_response.json()["creativeUnitsCost"] == 18


def test_scenario_sdk_runs_against_the_live_server(
    scenario_server: Handle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCENARIO_BASE_URL", raising=False)
    client = _client(base_url=f"{scenario_server.base_url}/v1")
    with client:
        reference = _upload(client)
        job = client.generate.run_model(
            MODEL, body={"prompt": "a knight", "characterReferenceImage": reference}
        ).job
        scenario_server.finish(job.job_id)
        done = client.jobs.retrieve(job.job_id).job
        assert done.status == "success"
        assert done.metadata.asset_ids is not None
        url = client.assets.retrieve(done.metadata.asset_ids[0]).asset.url
        assert url.startswith(scenario_server.base_url)
        assert httpx.get(url).status_code == 200
    header = scenario_server.headers()
    assert header["Authorization"].startswith("Basic ")
