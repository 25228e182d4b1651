"""The optional strict input check: fetch the input images and judge them as kie would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from ideogram_mock.core.images import Sniffed, sniff

MAX_BYTES = 10 * 1024 * 1024
ACCEPTED = ("png", "jpeg", "webp")
# Returns the file's bytes, or None when it cannot be had; raises nothing.
Fetcher = Callable[[str, int], Awaitable[bytes | None]]


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


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    edit_size: tuple[int, int] | None = None


async def _judge(urls: Iterable[str], fetch: Fetcher) -> tuple[list[Sniffed], str]:
    found: list[Sniffed] = []
    total = 0
    for url in urls:
        data = await fetch(url, MAX_BYTES + 1)
        if data is None:
            return found, f"{url}: unreachable, or over 10 MB"
        total += len(data)
        if total > MAX_BYTES:
            return found, f"{url}: the images add up to over 10 MB"
        picture = sniff(data)
        if picture is None or picture.fmt not in ACCEPTED:
            return found, f"{url}: not a jpeg, png or webp image"
        found.append(picture)
    return found, ""


async def check_inputs(inp: dict[str, Any], fetch: Fetcher) -> Verdict:
    """Whether every input image of a createTask `input` is usable."""
    _, why = await _judge(inp["reference_image_urls"], fetch)
    if why:
        return Verdict(False, why)
    if "image_urls" in inp:
        _, why = await _judge(inp["image_urls"], fetch)
        if why:
            return Verdict(False, why)
    if "image_url" not in inp:
        return Verdict(True)
    pictures, why = await _judge(
        [inp["image_url"], *([inp["mask_url"]] if "mask_url" in inp else [])], fetch
    )
    if why:
        return Verdict(False, why)
    size = (pictures[0].width, pictures[0].height)
    if len(pictures) == 2 and (pictures[1].width, pictures[1].height) != size:
        return Verdict(False, "mask_url and image_url differ in size")
    return Verdict(True, edit_size=size)
