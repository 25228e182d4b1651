"""How to test a client that does not use httpx (here `requests`): `kie_server` is the same fake
on a real loopback port, with the same handle."""

from __future__ import annotations

import pytest
import requests

from ideogram_mock.testing.live import KieServer
from ideogram_mock.testing.receiver import CallbackReceiver
from tests.examples.kie_client import SyncKie, TaskFailed


def test_howto_requests_client_against_the_live_fake(kie_server: KieServer) -> None:
    with requests.Session() as http:
        kie = SyncKie(http, "k", base_url=kie_server.base_url, sleep=kie_server.advance)
        urls = kie.generate("a knight", "https://cdn.example.com/me.png")
        image = http.get(urls[0], timeout=10)
    assert image.headers["content-type"] == "image/png"
    assert kie_server.tasks[0]["state"] == "success"


def test_howto_requests_client_sees_scripted_failures(kie_server: KieServer) -> None:
    kie_server.fail_next(fail_code="500")
    with requests.Session() as http, pytest.raises(TaskFailed):
        SyncKie(http, "k", base_url=kie_server.base_url, sleep=kie_server.advance).generate(
            "a knight", "https://cdn.example.com/me.png"
        )


def test_howto_live_server_delivers_callbacks_to_a_real_receiver(kie_server: KieServer) -> None:
    with CallbackReceiver() as receiver, requests.Session() as http:
        created = http.post(
            f"{kie_server.base_url}/api/v1/jobs/createTask",
            json={
                "model": "ideogram/character",
                "callBackUrl": receiver.url,
                "input": {"prompt": "p", "reference_image_urls": ["https://cdn.example.com/a.png"]},
            },
            headers=kie_server.headers(),
            timeout=10,
        ).json()
        kie_server.finish(created["data"]["taskId"])
        (got,) = receiver.wait_for(1)
    assert got.json()["data"]["taskId"] == created["data"]["taskId"]
