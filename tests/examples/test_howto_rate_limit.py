"""How to test 429 back-off: the real limit (20 per 10 s), or a scripted 429."""

from __future__ import annotations

import httpx
import pytest

from ideogram_mock.testing.inprocess import KieMock
from tests.examples.kie_client import AsyncKie, KieError

pytestmark = pytest.mark.anyio
BODY = {
    "model": "ideogram/character",
    "input": {"prompt": "p", "reference_image_urls": ["https://cdn.example.com/a.png"]},
}


async def test_howto_rate_limit_client_backs_off_and_gets_through(kie_mock: KieMock) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await kie_mock.aadvance(seconds)

    async with httpx.AsyncClient() as http:
        kie = AsyncKie(http, "k", sleep=sleep, retries=5)
        ids = [await kie.create(BODY) for _ in range(25)]
    assert len(set(ids)) == 25
    assert slept  # the 21st create met a 429 and waited for the window to slide
    codes = [r["code"] for r in kie_mock.requests]
    assert codes.count(429) >= 1


@pytest.mark.kie(rate_limit="2/60")
async def test_howto_rate_limit_configured_per_test_and_surfaced(kie_mock: KieMock) -> None:
    async with httpx.AsyncClient() as http:
        kie = AsyncKie(http, "k", sleep=kie_mock.aadvance, retries=0)
        await kie.create(BODY)
        await kie.create(BODY)
        with pytest.raises(KieError) as error:
            await kie.create(BODY)
    assert error.value.code == 429


async def test_howto_rate_limit_scripted_429_once(kie_mock: KieMock) -> None:
    kie_mock.fault("createTask", 429)
    async with httpx.AsyncClient() as http:
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        await AsyncKie(http, "k", sleep=sleep).create(BODY)
    assert slept == [1]
