"""The fake's own outgoing HTTP: callback POSTs and (with `fetch_inputs`) input downloads.
The core takes these as plain callables, so it never touches the network itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    import httpx

# httpx is imported when first used: `serve` starts faster without it (and its CLI's
# dependencies), and a fake that sends no callback never needs it.


class HttpxSender:
    """POSTs with one pooled client per event loop (a client is bound to the loop it ran on,
    and making one per call costs milliseconds of TLS set-up)."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import httpx

            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
            )
            self._loop = loop
        response = await self._client.post(url, content=body, headers=headers, timeout=timeout)
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None


class HttpFetcher:
    """GETs an input image for `fetch_inputs`, within bounds: only hosts the policy allows
    (checked again on every redirect), at most `redirects` redirects, `limit` bytes, and
    `budget_s` seconds in all (a server that drips bytes cannot hold a request longer)."""

    def __init__(
        self, allows: Callable[[str], bool], *, redirects: int = 3, budget_s: float = 10.0
    ) -> None:
        self.allows = allows
        self.redirects = redirects
        self.budget_s = budget_s

    async def __call__(self, url: str, limit: int) -> bytes | None:
        import httpx

        try:
            with anyio.fail_after(self.budget_s):
                return await self._get(url, limit)
        except (httpx.HTTPError, ValueError, TimeoutError):
            return None

    async def _get(self, url: str, limit: int) -> bytes | None:
        import httpx

        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            for _ in range(self.redirects + 1):
                if not self.allows(url):
                    return None
                async with client.stream("GET", url, timeout=self.budget_s) as response:
                    if response.is_redirect:
                        url = str(response.url.join(response.headers.get("location", "")))
                        continue
                    if response.status_code != 200:
                        return None
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            return None
                        chunks.append(chunk)
                    return b"".join(chunks)
        return None  # too many redirects
