"""How to test "fail twice then succeed" against the client's own retry loop."""

from __future__ import annotations

import httpx
import pytest

from ideogram_mock.testing.inprocess import KieMock
from tests.examples.kie_client import AsyncKie, TaskFailed

pytestmark = pytest.mark.anyio


async def test_howto_retry_survives_two_failures(kie_mock: KieMock) -> None:
    kie_mock.fail_next(times=2, fail_code="500", fail_msg="Internal server error")
    async with httpx.AsyncClient() as http:
        urls = await AsyncKie(http, "k", sleep=kie_mock.aadvance, retries=3).generate(
            "a knight", "https://cdn.example.com/me.png"
        )
    assert len(urls) == 1
    outcomes = [t["outcome"]["state"] for t in kie_mock.tasks]
    assert outcomes == ["fail", "fail", "success"]
    assert kie_mock.credits("k") == 100_000 - 18  # failed tasks were refunded


async def test_howto_retry_gives_up_after_its_budget(kie_mock: KieMock) -> None:
    kie_mock.fail_next(times=None)
    async with httpx.AsyncClient() as http:
        kie = AsyncKie(http, "k", sleep=kie_mock.aadvance, retries=2)
        with pytest.raises(TaskFailed):
            await kie.generate("a knight", "https://cdn.example.com/me.png")
    assert len(kie_mock.tasks) == 3


async def test_howto_retry_through_a_dropped_connection(kie_mock: KieMock) -> None:
    kie_mock.fault("recordInfo", kind="drop")
    async with httpx.AsyncClient() as http:
        kie = AsyncKie(http, "k", sleep=kie_mock.aadvance)
        task_id = await kie.create(
            {
                "model": "ideogram/character",
                "input": {"prompt": "p", "reference_image_urls": ["https://cdn.example.com/a.png"]},
            }
        )
        with pytest.raises(httpx.RemoteProtocolError):
            await kie.wait(task_id)
        assert (await kie.wait(task_id))["state"] == "success"
