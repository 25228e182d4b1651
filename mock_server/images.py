"""Real, deterministic pictures: a character drawn from a seed, encoded as PNG, JPEG or WebP."""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_PIXELS = 4096 * 4096


def key_of(*parts: object) -> int:
    """A 64-bit key from any values, stable across processes (unlike hash())."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _colour(rng: random.Random, low: int = 0, high: int = 255) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def draw_character(width: int, height: int, key: int) -> Image.Image:
    """A portrait-like picture: background gradient, a figure with a face, seeded by `key`."""
    rng = random.Random(key)
    ramp = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270)))
    bg = ImageOps.colorize(ramp, _colour(rng, 0, 120), _colour(rng, 120, 255))
    img = bg.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    unit = min(width, height)
    for _ in range(rng.randint(3, 7)):
        r = rng.randint(unit // 20, unit // 6)
        x, y = rng.randint(0, width), rng.randint(0, height)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng, 60, 230))
    cx, cy = width // 2, int(height * 0.42)
    head = unit // 5
    body = _colour(rng, 20, 200)
    draw.ellipse((cx - 2 * head, cy + head, cx + 2 * head, cy + 5 * head), fill=body)
    skin = rng.choice(((241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36)))
    draw.ellipse((cx - head, cy - head, cx + head, cy + head), fill=skin)
    hair = _colour(rng, 0, 120)
    draw.chord((cx - head, cy - head, cx + head, cy + head // 2), 180, 360, fill=hair)
    eye = max(2, head // 8)
    for ex in (cx - head // 2.5, cx + head // 2.5):
        draw.ellipse((ex - eye, cy - eye, ex + eye, cy + eye), fill=(30, 30, 30))
    draw.arc(
        (cx - head // 2, cy, cx + head // 2, cy + head // 2),
        20,
        160,
        fill=(120, 30, 30),
        width=max(1, head // 15),
    )
    return img


def encode(img: Image.Image, fmt: str = "png") -> bytes:
    """The picture in a file format: `png` (fast, lossless), `jpeg` or `webp`."""
    out = io.BytesIO()
    if fmt == "png":
        img.save(out, "PNG", compress_level=1)
    elif fmt == "jpeg":
        img.convert("RGB").save(out, "JPEG", quality=85)
    elif fmt == "webp":
        img.save(out, "WEBP", quality=80, method=0)
    else:
        raise ValueError(f"unknown image format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return out.getvalue()


def generated_image(width: int, height: int, key: int, fmt: str = "png") -> bytes:
    """The encoded picture the fake serves for a result URL."""
    return encode(draw_character(width, height, key), fmt)


def mask_for(width: int, height: int, key: int) -> Image.Image:
    """An inpainting mask: white (kept) with a black (repainted) ellipse."""
    rng = random.Random(key)
    img = Image.new("L", (width, height), 255)
    w, h = rng.randint(width // 5, width // 2), rng.randint(height // 5, height // 2)
    x, y = rng.randint(0, width - w), rng.randint(0, height - h)
    ImageDraw.Draw(img).ellipse((x, y, x + w, y + h), fill=0)
    return img


@dataclass(frozen=True)
class Sniffed:
    """What a byte string turned out to be."""

    fmt: str
    width: int
    height: int


def sniff(data: bytes) -> Sniffed | None:
    """The format (png/jpeg/webp) and pixel size of an image file, or None if it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "").lower()
            size = img.size
            if size[0] * size[1] > MAX_PIXELS:
                return None
            img.verify()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    if fmt == "jpg":
        fmt = "jpeg"
    return Sniffed(fmt, size[0], size[1])
