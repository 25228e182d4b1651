"""How to test an expired result URL: results live 24 h of fake time; download-url renews them."""

from __future__ import annotations

import httpx
import pytest

from ideogram_mock.testing.inprocess import KieMock
from tests.examples.kie_client import AsyncKie

pytestmark = pytest.mark.anyio


async def test_howto_expired_url_is_renewed_with_download_url(kie_mock: KieMock) -> None:
    async with httpx.AsyncClient() as http:
        kie = AsyncKie(http, "k", sleep=kie_mock.aadvance)
        (url,) = await kie.generate("a knight", "https://cdn.example.com/me.png")
        assert (await http.get(url)).status_code == 200

        await kie_mock.aadvance(25 * 3600)
        assert (await http.get(url)).status_code == 410

        fresh = await kie.fresh_link(url)
        assert (await http.get(fresh)).status_code == 200
        await kie_mock.aadvance(21 * 60)
        assert (await http.get(fresh)).status_code == 410
