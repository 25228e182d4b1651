"""The fake's own outgoing HTTP: callback POSTs and (with `fetch_inputs`) input downloads.
The core takes these as plain callables, so it never touches the network itself."""

from __future__ import annotations

import asyncio

import httpx


class HttpxSender:
    """POSTs with one pooled client per event loop (a client is bound to the loop it ran on,
    and making one per call costs milliseconds of TLS set-up)."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
            self._loop = loop
        response = await self._client.post(url, content=body, headers=headers, timeout=timeout)
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None


async def http_fetch(url: str, limit: int) -> bytes | None:
    """GET a URL, giving up past `limit` bytes, on a non-200 status, or after 10 s."""
    try:
        async with (
            httpx.AsyncClient(follow_redirects=True, trust_env=False, timeout=10.0) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                return None
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)
    except (httpx.HTTPError, ValueError):
        return None
