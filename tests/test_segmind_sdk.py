"""Segmind's official SDK (PyPI `segmind`), unmodified, against the fake: in-process through the
`segmind_mock` fixture (no base_url needed) and over a socket through `segmind_server`. Every
answer the SDK receives is checked against openapi/segmind.yaml (a response hook on its client)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from segmind import SegmindClient
from segmind.exceptions import SegmindError
from segmind.v2 import InferenceFailed

from ideogram_mock.testing.handle import Handle
from tests.conftest import LOCAL_IMAGE, assert_conforms

SLUG = "ideogram-character"
PARAMS = {
    "prompt": "a close up photo of a woman in a fashion magazine photoshoot",
    "character_reference_image": LOCAL_IMAGE,
}


def _checked(client: SegmindClient) -> SegmindClient:
    """The SDK's own httpx client, with a hook that checks every answer against the spec."""

    def check(response: httpx.Response) -> None:
        response.read()
        assert_conforms(response)

    client._client.event_hooks["response"].append(check)
    return client


@pytest.fixture
def sdk(segmind_mock: Handle, monkeypatch: pytest.MonkeyPatch) -> Iterator[SegmindClient]:
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    client = _checked(SegmindClient(api_key=segmind_mock.api_key))
    yield client
    client._client.close()


def _size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as img:
        return img.size


def test_segmind_sdk_run_sync_returns_jpeg_bytes_of_the_asked_size(sdk: SegmindClient) -> None:
    response = sdk.run_sync(SLUG, **PARAMS, resolution="1152x864")
    assert response.headers["content-type"] == "image/jpeg"
    assert _size(response.content) == (1152, 864)


def test_segmind_sdk_submit_async_polls_through_processing_to_the_result(
    sdk: SegmindClient, segmind_mock: Handle
) -> None:
    job = sdk.submit_async(SLUG, **PARAMS, resolution="1024x1024")
    assert job.status()["status"] == "QUEUED"
    segmind_mock.advance(5)
    assert job.status()["status"] == "PROCESSING"
    view = segmind_mock.finish(job.request_id)
    assert view["provider"] == "segmind"
    assert view["state"] == "COMPLETED"
    result = job.wait(timeout=5, interval=0.01)
    assert result["status"] == "COMPLETED"
    assert result["metrics"]["total_time"] > 0
    image = httpx.get(result["output"])  # served in-process on api.segmind.com
    assert _size(image.content) == (1024, 1024)


@pytest.mark.segmind(clock="real", time_scale=0.02)
def test_segmind_sdk_run_follows_the_returned_urls_to_completion(sdk: SegmindClient) -> None:
    result = sdk.run(SLUG, **PARAMS, rendering_speed="Turbo")
    assert result["status"] == "COMPLETED"
    assert result["output"].startswith("https://api.segmind.com/files/")


def test_segmind_sdk_failed_job_raises_inference_failed_with_the_error(
    sdk: SegmindClient, segmind_mock: Handle
) -> None:
    segmind_mock.fail_next(fail_msg="NSFW content detected", provider="segmind")
    job = sdk.submit_async(SLUG, **PARAMS)
    segmind_mock.finish(job.request_id)
    with pytest.raises(InferenceFailed) as caught:
        job.wait(timeout=5, interval=0.01)
    assert caught.value.detail == "NSFW content detected"
    assert caught.value.status_body["status"] == "FAILED"
    assert job.result()["status"] == "FAILED"  # served with 422, read as a body


def test_segmind_sdk_raises_segmind_error_with_status_and_detail(
    sdk: SegmindClient, segmind_mock: Handle, monkeypatch: pytest.MonkeyPatch
) -> None:
    anonymous = _checked(SegmindClient())
    with anonymous._client, pytest.raises(SegmindError) as missing:
        anonymous.run_sync(SLUG, **PARAMS)
    assert (missing.value.status, missing.value.detail) == (
        401,
        "Missing Authorization or x-api-key in header",
    )
    with pytest.raises(SegmindError) as invalid:
        sdk.run_sync(SLUG, prompt="a knight", character_reference_image=LOCAL_IMAGE, seed=3)
    assert invalid.value.status == 422
    assert invalid.value.detail == "seed must be at least 100"
    segmind_mock.set_credits(10)
    for call in (sdk.run_sync, sdk.submit_async):
        with pytest.raises(SegmindError) as poor:
            call(SLUG, **PARAMS)
        assert poor.value.status == 406
        assert poor.value.detail is not None
        assert poor.value.detail.startswith("Insufficient credits")


def test_segmind_sdk_runs_against_the_live_server(
    segmind_server: Handle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    assert segmind_server.headers() == {"x-api-key": "test-key"}
    client = _checked(SegmindClient(api_key="test-key", base_url=f"{segmind_server.base_url}/v1"))
    try:
        image = client.run_sync(SLUG, **PARAMS, resolution="768x1344")
        assert _size(image.content) == (768, 1344)
        job = client.submit_async(SLUG, **PARAMS)
        assert job.status_url.startswith(segmind_server.base_url)
        segmind_server.advance(3600)
        result = job.wait(timeout=5, interval=0.01)
        assert client._client.get(result["output"]).status_code == 200
        assert segmind_server.credits() == 100_000 - 2 * 50
        keyless = SegmindClient(api_key="", base_url=f"{segmind_server.base_url}/v1")
        with keyless._client, pytest.raises(SegmindError) as refused:
            keyless.run_sync(SLUG, **PARAMS)
        assert refused.value.status == 401
    finally:
        client._client.close()
