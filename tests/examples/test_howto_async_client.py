"""How to test an async httpx client's create-and-poll flow: `kie_mock`, no network, no sleep.

Give the client `kie_mock.aadvance` as its sleep: each poll interval moves the fake's clock,
so the ~20 s generation takes microseconds of real time.
"""

from __future__ import annotations

import httpx
import pytest

from ideogram_mock.core.images import sniff
from ideogram_mock.testing.inprocess import KieMock
from tests.examples.kie_client import AsyncKie

pytestmark = pytest.mark.anyio
PORTRAIT = "https://cdn.example.com/me.png"  # never fetched: the fake only validates it


async def test_howto_async_client_creates_polls_and_downloads(kie_mock: KieMock) -> None:
    async with httpx.AsyncClient() as http:
        kie = AsyncKie(http, "my-key", sleep=kie_mock.aadvance)
        urls = await kie.generate("a knight in a garden", PORTRAIT)
        image = await http.get(urls[0])

    assert image.status_code == 200
    assert sniff(image.content) is not None
    assert sniff(image.content).width == 1024  # type: ignore[union-attr]
    states = [r["code"] for r in kie_mock.requests if r["operationId"] == "getTaskRecord"]
    assert len(states) >= 5  # it really polled through waiting, queuing, generating
    assert kie_mock.tasks[0]["apiKey"] == "my-key"


async def test_howto_async_client_sees_every_state_in_order(kie_mock: KieMock) -> None:
    async with httpx.AsyncClient(base_url=kie_mock.base_url, headers=kie_mock.headers()) as http:
        created = await http.post(
            "/api/v1/jobs/createTask",
            json={
                "model": "ideogram/character",
                "input": {"prompt": "p", "reference_image_urls": [PORTRAIT]},
            },
        )
        task_id = created.json()["data"]["taskId"]
        seen: list[str] = []
        for _ in range(25):
            record = await http.get("/api/v1/jobs/recordInfo", params={"taskId": task_id})
            state = record.json()["data"]["state"]
            if not seen or seen[-1] != state:
                seen.append(state)
            await kie_mock.aadvance(1)
    assert seen == ["waiting", "queuing", "generating", "success"]
