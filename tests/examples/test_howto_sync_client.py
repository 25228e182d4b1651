"""How to test a synchronous httpx client: the same `kie_mock`, the same handle."""

from __future__ import annotations

import httpx
import pytest

from ideogram_mock.testing.inprocess import KieMock
from tests.examples.kie_client import SyncKie, TaskFailed

PORTRAIT = "https://cdn.example.com/me.png"


def test_howto_sync_client_gets_its_images(kie_mock: KieMock) -> None:
    with httpx.Client() as http:
        urls = SyncKie(http, "my-key", sleep=kie_mock.advance).generate("a knight", PORTRAIT)
        assert http.get(urls[0]).headers["content-type"] == "image/png"


def test_howto_sync_client_reports_a_failed_task(kie_mock: KieMock) -> None:
    kie_mock.fail_next(
        fail_code="422", fail_msg="Your media file is unavailable, please replace it."
    )
    with httpx.Client() as http, pytest.raises(TaskFailed) as failure:
        SyncKie(http, "my-key", sleep=kie_mock.advance).generate("a knight", PORTRAIT)
    assert failure.value.record["failCode"] == "422"


@pytest.mark.kie(http_status="mirror")
def test_howto_sync_client_under_the_mirrored_status_convention(kie_mock: KieMock) -> None:
    with httpx.Client() as http:
        answer = http.get(f"{kie_mock.base_url}/api/v1/chat/credit")
    assert answer.status_code == 401
    assert answer.json()["code"] == 401


def test_howto_sync_client_on_the_apikley_mirror(kie_mock: KieMock) -> None:
    with httpx.Client() as http:
        urls = SyncKie(
            http, "k", base_url="https://api.apikley.ru", sleep=kie_mock.advance
        ).generate("a knight", PORTRAIT)
    assert urls
