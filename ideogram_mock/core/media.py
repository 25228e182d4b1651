"""The optional strict input check: fetch the input images and judge them as the providers do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from ideogram_mock.core.images import Sniffed, sniff

MAX_BYTES = 10 * 1024 * 1024
ACCEPTED = ("png", "jpeg", "webp")
# Returns the file's bytes, or None when it cannot be had; raises nothing.
Fetcher = Callable[[str, int], Awaitable[bytes | None]]


@dataclass(slots=True)
class Inputs:
    """The input images of a task, by role, as URLs (or the fake's own file URLs). Part of an
    `Order`, and like it treated as read-only though not frozen (built on every create)."""

    references: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    image: str | None = None
    mask: str | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether the inputs are usable, why not, and what was learnt from them."""

    ok: bool
    reason: str = ""
    reference: bytes | None = None
    edit_size: tuple[int, int] | None = None
    edit: tuple[bytes, bytes] | None = None  # the edit's input image and mask, as fetched


async def _judge(urls: Iterable[str], fetch: Fetcher) -> tuple[list[Sniffed], list[bytes], str]:
    found: list[Sniffed] = []
    raw: list[bytes] = []
    total = 0
    for url in urls:
        data = await fetch(url, MAX_BYTES + 1)
        if data is None:
            return found, raw, f"{url}: unreachable, or over 10 MB"
        total += len(data)
        if total > MAX_BYTES:
            return found, raw, f"{url}: the images add up to over 10 MB"
        picture = sniff(data)
        if picture is None or picture.fmt not in ACCEPTED:
            return found, raw, f"{url}: not a jpeg, png or webp image"
        found.append(picture)
        raw.append(data)
    return found, raw, ""


async def check_inputs(inputs: Inputs, fetch: Fetcher) -> Verdict:
    """Whether every input image is usable: reachable, jpeg/png/webp, ≤ 10 MB per role, and a
    mask of its image's size."""
    _, refs, why = await _judge(inputs.references, fetch)
    if why:
        return Verdict(False, why)
    reference = refs[0] if refs else None
    if inputs.styles:
        _, _, why = await _judge(inputs.styles, fetch)
        if why:
            return Verdict(False, why, reference)
    if inputs.image is None:
        return Verdict(True, reference=reference)
    pictures, raw, why = await _judge(
        [inputs.image, *([inputs.mask] if inputs.mask is not None else [])], fetch
    )
    if why:
        return Verdict(False, why, reference)
    size = (pictures[0].width, pictures[0].height)
    if len(pictures) == 2 and (pictures[1].width, pictures[1].height) != size:
        return Verdict(False, "the mask and the image differ in size", reference)
    edit = (raw[0], raw[1]) if len(raw) == 2 else None
    return Verdict(True, reference=reference, edit_size=size, edit=edit)
