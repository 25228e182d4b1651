"""Real, deterministic pictures: a character drawn from a seed, encoded as PNG, JPEG or WebP.

The picture is drawn small in 16 colours and scaled up by whole pixels, which lets the PNG
writer below be fast: each distinct row goes into the deflate stream as a stored block, and
its repeats use the PNG "Up" filter (all zeros), compressed once per row width and spliced in.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw, UnidentifiedImageError
from zlib_ng import zlib_ng  # the same checksums as zlib's, several times as fast

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_PIXELS = 4096 * 4096
SKETCH = 128  # the sketch's longer side, at most, in pixels
_BANDS = 6  # palette entries 0..5: the background gradient; 6..15: the figure and shapes
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def key_of(*parts: object) -> int:
    """A 64-bit key from any values, stable across processes (unlike hash())."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def digest(data: bytes) -> str:
    """A short content hash (for keys derived from file bytes)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint(low, high)`: the same number, drawn the same way (`getrandbits` until
    below the width), in one call instead of three."""
    width = high - low + 1
    if width <= 0:
        raise ValueError(f"empty range for _between({low}, {high})")
    bits = width.bit_length()
    draw = rng.getrandbits(bits)
    while draw >= width:
        draw = rng.getrandbits(bits)
    return low + draw


def _colour(rng: random.Random, low: int = 0, high: int = 255) -> tuple[int, int, int]:
    return (_between(rng, low, high), _between(rng, low, high), _between(rng, low, high))


def scale_for(width: int, height: int) -> int:
    """How many pixels of the picture one sketch pixel covers (whole pixels, ≥ 1)."""
    return max(1, -(-max(width, height) // SKETCH))


@functools.lru_cache(maxsize=256)
def _background(strip: tuple[int, int], order: bytes, w: int, h: int) -> Image.Image:
    """The band colours stretched over w×h (four per size: made once, copied after; never
    drawn on itself)."""
    return Image.frombytes("P", strip, order).resize((w, h), Image.Resampling.NEAREST)


_STEPS = tuple(i / (_BANDS - 1) for i in range(_BANDS))  # the bands' places, low to high


def sketch(width: int, height: int, key: int, character: int | None = None) -> Image.Image:
    """The picture drawn small (see `scale_for`) in a 16-colour palette: the scene (background
    bands and shapes) chosen by `key`, and a figure with a face chosen by `character` (by `key`
    when None), so one character keeps its look in every scene."""
    img, palette = _drawn(width, height, key, character)
    img.putpalette(palette)
    return img


def _drawn(
    width: int, height: int, key: int, character: int | None
) -> tuple[Image.Image, list[int]]:
    """The sketch's pixels (palette indices, with no palette of their own yet) and its
    palette: the PNG writer needs the two apart, and setting one only to read it back costs."""
    rng = random.Random(key)
    scale = scale_for(width, height)
    w, h = max(1, -(-width // scale)), max(1, -(-height // scale))
    # A character's figure is drawn once per size (a scene of its own has its own figure).
    figure = _draw_figure(w, h, key) if character is None else _figure(w, h, character)
    low, high = _colour(rng, 0, 120), _colour(rng, 120, 255)
    ends = tuple(zip(low, high, strict=True))
    palette = [round(a + (b - a) * t) for t in _STEPS for a, b in ends]
    palette += figure.colours
    for _ in range(5):
        palette += _colour(rng, 60, 230)
    # The background: a strip of the band colours, stretched across in one of four directions.
    order = bytes(range(_BANDS)) if rng.random() < 0.5 else bytes(reversed(range(_BANDS)))
    strip = (1, _BANDS) if rng.random() < 0.5 else (_BANDS, 1)
    img = _background(strip, order, w, h).copy()
    draw = ImageDraw.Draw(img)
    unit = min(w, h)
    for i in range(5):
        r = _between(rng, unit // 20, unit // 6)
        x, y = _between(rng, 0, w), _between(rng, 0, h)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=11 + i)
    img.paste(figure.layer, figure.box, figure.mask)  # over the scene, as if drawn on it
    return img, palette


@dataclass(frozen=True)
class _Figure:
    """A character at one sketch size: its colours (palette entries 6..10, RGB after RGB),
    its pixels (those indices) and where they are (set in the mask, a 1-bit image: pasting
    through it copies, with none of an 8-bit mask's blending), both cut to the box that holds
    the figure, whose top left corner is `box` (pasting no more than that)."""

    colours: tuple[int, ...]
    layer: Image.Image
    mask: Image.Image
    box: tuple[int, int]


def _draw_figure(w: int, h: int, seed: int) -> _Figure:
    who = random.Random(seed)
    skin = who.choice(((241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36)))
    colours = [_colour(who, 20, 200), skin, _colour(who, 0, 120), (30, 30, 30), (120, 30, 30)]
    unit = min(w, h)
    cx, cy = w // 2, int(h * 0.42)
    head = max(2, round(unit * who.uniform(0.17, 0.23)))
    eye = max(1, head // 8)
    layer, mask = Image.new("P", (w, h), 0), Image.new("L", (w, h), 0)
    for img, ink in ((layer, None), (mask, 255)):
        draw = ImageDraw.Draw(img)
        draw.ellipse((cx - 2 * head, cy + head, cx + 2 * head, cy + 5 * head), fill=ink or 6)
        draw.ellipse((cx - head, cy - head, cx + head, cy + head), fill=ink or 7)
        draw.chord((cx - head, cy - head, cx + head, cy + head // 2), 180, 360, fill=ink or 8)
        for ex in (cx - head * 2 // 5, cx + head * 2 // 5):
            draw.ellipse((ex - eye, cy - eye, ex + eye, cy + eye), fill=ink or 9)
        mouth = (cx - head // 2, cy, cx + head // 2, cy + head // 2)
        draw.arc(mouth, 20, 160, fill=ink or 10, width=max(1, head // 15))
    bbox = mask.getbbox() or (0, 0, 1, 1)  # (a figure has pixels at any size)
    return _Figure(
        tuple(v for colour in colours for v in colour),
        layer.crop(bbox),
        mask.crop(bbox).convert("1", dither=Image.Dither.NONE),
        bbox[:2],
    )


_figure = functools.lru_cache(maxsize=128)(_draw_figure)


def draw_character(width: int, height: int, key: int, character: int | None = None) -> Image.Image:
    """The full-size picture (RGB), pixel for pixel what the PNG shows."""
    with Image.open(io.BytesIO(_png(*_drawn(width, height, key, character), width, height))) as img:
        return img.convert("RGB")


def _chunk(tag: bytes, data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """A PNG chunk's parts (joined once with the rest of the file: the data is not copied
    here, and an image's data is most of its bytes)."""
    return (
        struct.pack(">I", len(data)),
        tag,
        data,
        struct.pack(">I", zlib_ng.crc32(data, zlib_ng.crc32(tag))),
    )


_ADLER_BASE = 65521


def _adler_combine(adler1: int, adler2: int, len2: int) -> int:
    """adler32 of A+B from adler32(A), adler32(B) and len(B) (zlib's adler32_combine)."""
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 = (sum1 + (adler2 & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    sum2 = (sum2 + (adler1 >> 16) + (adler2 >> 16) + _ADLER_BASE - rem) % _ADLER_BASE
    return sum1 | (sum2 << 16)


@functools.lru_cache(maxsize=64)
def _repeats(row_bytes: int, count: int) -> tuple[int, int, bytes]:
    """`count` "Up"-filtered rows (same as the row above): their length, adler32, and
    self-contained deflate (byte-aligned, no back-references), made once per shape."""
    raw = (b"\x02" + bytes(row_bytes)) * count
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    return len(raw), zlib.adler32(raw), packer.compress(raw) + packer.flush(zlib.Z_FULL_FLUSH)


def png_of(small: Image.Image, width: int, height: int) -> bytes:
    """A 4-bit palette PNG of `small` scaled up to width×height by whole pixels."""
    pixels = small.copy()
    # (Pillow's palette conversion, which widens the rows, would honour a transparent index.)
    pixels.info.pop("transparency", None)
    return _png(pixels, small.getpalette() or [], width, height)


def _png(pixels: Image.Image, colours: list[int], width: int, height: int) -> bytes:
    """`png_of` a sketch given as its pixels and its palette (`colours`); the writer may
    change `pixels`' own palette (theirs is not read)."""
    if (width + 1) // 2 + 1 > 0xFFFF:  # a row longer than a stored block holds: Pillow's
        pixels.putpalette(colours)
        return encode(pixels.resize((width, height), Image.Resampling.NEAREST), "png")
    scale = scale_for(width, height)
    if width == pixels.width * scale and height == pixels.height * scale and scale % 2 == 0:
        idat = _idat_even(pixels, scale)
    else:
        idat = _idat_any(pixels, width, height)
    palette = bytes(colours[:48]).ljust(48, b"\x00")
    header = struct.pack(">IIBBBBB", width, height, 4, 3, 0, 0, 0)
    return b"".join(
        (
            _PNG_SIGNATURE,
            *_chunk(b"IHDR", header),
            *_chunk(b"PLTE", palette),
            *_chunk(b"IDAT", idat),
            *_chunk(b"IEND", b""),
        )
    )


def _stored(row_bytes: int) -> bytes:
    """The header of a stored deflate block holding one scanline (filter byte included)."""
    return b"\x00" + struct.pack("<HH", row_bytes + 1, (row_bytes + 1) ^ 0xFFFF)


def _idat_any(small: Image.Image, width: int, height: int) -> bytes:
    """The zlib stream of the scanlines, for any size: a stored block per sketch row, its
    repeats spliced in, the checksum combined row by row."""
    wide = small.resize((width, small.height), Image.Resampling.NEAREST).tobytes("raw", "P;4")
    row_bytes = (width + 1) // 2
    # Output row y shows the sketch row under its centre (as Pillow's NEAREST does).
    rows = small.height
    scale = scale_for(width, height)
    if height == rows * scale:
        counts = [scale] * rows
    else:
        counts = [0] * rows
        step = rows / height
        for y in range(height):
            counts[min(rows - 1, int((y + 0.5) * step))] += 1
    out = [b"\x78\x01"]
    adler = 1
    stored = _stored(row_bytes)
    for r, count in enumerate(counts):
        if count == 0:
            continue
        row = b"\x00" + wide[r * row_bytes : (r + 1) * row_bytes]
        out.append(stored)
        out.append(row)
        adler = zlib_ng.adler32(row, adler)
        if count > 1:
            length, checksum, packed = _repeats(row_bytes, count - 1)
            out.append(packed)
            adler = _adler_combine(adler, checksum, length)
    out.append(b"\x03\x00")  # the final block: fixed Huffman, just end-of-block
    out.append(struct.pack(">I", adler))
    return b"".join(out)


# Each 4-bit palette index p twice in a byte: two output pixels of one sketch pixel.
_TWICE = bytes(((b & 15) << 4) | (b & 15) for b in range(256))
# A palette (RGBA) whose entry p is four bytes of 17·p: converted to a mode of n bytes a
# pixel, a sketch becomes its rows widened n times, in one pass of Pillow's C.
_WIDE_PALETTE = bytes(_TWICE[p] for p in range(256) for _ in range(4))
_WIDE_MODES = {2: "LA", 3: "RGB", 4: "RGBA"}  # (LA's L of a grey (v, v, v) is v)


def _widened(small: Image.Image, half: int) -> bytes:
    """The sketch's rows with each index p written as `half` bytes of 17·p (two pixels each
    of a 4-bit PNG row); for `half` 2 to 4, through a palette that replaces `small`'s."""
    mode = _WIDE_MODES.get(half)
    if mode is not None:
        small.putpalette(_WIDE_PALETTE, "RGBA")
        return small.convert(mode).tobytes()
    doubled = small.tobytes().translate(_TWICE)
    if half == 1:
        return doubled
    w, rows = small.size
    return (
        Image.frombytes("L", (w, rows), doubled)
        .resize((w * half, rows), Image.Resampling.NEAREST)
        .tobytes()
    )


@functools.lru_cache(maxsize=64)
def _splitter(row_bytes: int, rows: int) -> struct.Struct:
    """Cuts `rows` rows of `row_bytes` each out of a byte string, in one call."""
    return struct.Struct(f"{row_bytes}s" * rows)


def _sums(data: bytes) -> tuple[int, int]:
    """(Σ d[k], Σ k·d[k]) of a byte string, modulo 65521, read off its adler32 (whose two
    halves are 1 + Σ d[k] and n + Σ (n - k)·d[k])."""
    adler = zlib_ng.adler32(data)
    total = (adler & 0xFFFF) - 1
    return total % _ADLER_BASE, (len(data) * (1 + total) - (adler >> 16)) % _ADLER_BASE


def _idat_even(small: Image.Image, scale: int) -> bytes:
    """The zlib stream when the picture is the sketch times an even `scale` both ways (most
    sizes): the same blocks as `_idat_any`, with no loop over rows in Python. A byte of a wide
    row is two pixels of one sketch pixel, so the wide rows come from one widening of the
    sketch (`_widened`, which may replace `small`'s palette), and the checksum of the whole
    stream is worked out from their sums (two adler32s), not row by row."""
    w, rows = small.size
    half = scale // 2  # bytes of a wide row per sketch pixel
    row_bytes = w * half
    wide = _widened(small, half)
    lines = _splitter(row_bytes, rows).unpack(wide)
    s_all, by_position = _sums(wide)
    # A zero byte after each row moves row r's weights by r: the difference is Σ r·(its sum).
    _, by_padded = _sums(b"\x00".join(lines))
    s_rows = by_padded - by_position  # Σ over rows r of r × (the sum of row r)
    s_within = by_position - row_bytes * s_rows  # Σ over bytes of their place in the row × it
    # The stream checksummed: per sketch row, a filter byte 0 and its wide row, then scale-1
    # "Up" rows (a filter byte 2 and zeros). n bytes, stride per sketch row t.
    m = row_bytes + 1
    t = scale * m
    n = rows * t
    ups = scale - 1
    a = 1 + s_all + 2 * ups * rows
    b = (
        n
        + (n - 1) * s_all
        - t * s_rows
        - s_within
        + 2
        * (ups * (rows * (n - m) - t * rows * (rows - 1) // 2) - m * rows * ups * (ups - 1) // 2)
    )
    adler = (a % _ADLER_BASE) | (b % _ADLER_BASE) << 16
    _, _, packed = _repeats(row_bytes, ups)
    stored = _stored(row_bytes) + b"\x00"
    return b"".join(
        (
            b"\x78\x01",
            stored,
            (packed + stored).join(lines),
            packed,
            b"\x03\x00",  # the final block: fixed Huffman, just end-of-block
            struct.pack(">I", adler),
        )
    )


def encode(img: Image.Image, fmt: str = "png") -> bytes:
    """A picture in a file format: `png` (lossless), `jpeg` or `webp`."""
    out = io.BytesIO()
    if fmt == "png":
        img.save(out, "PNG", compress_level=1)
    elif fmt == "jpeg":
        img.convert("RGB").save(out, "JPEG", quality=85)
    elif fmt == "webp":
        img.convert("RGB").save(out, "WEBP", quality=80, method=0)
    else:
        raise ValueError(f"unknown image format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return out.getvalue()


def generated_image(
    width: int, height: int, key: int, fmt: str = "png", character: int | None = None
) -> bytes:
    """The encoded picture the fake serves for a result URL."""
    if fmt == "png":
        return _png(*_drawn(width, height, key, character), width, height)
    return encode(draw_character(width, height, key, character), fmt)


def edited_image(
    base: bytes, mask: bytes, key: int, fmt: str = "png", character: int | None = None
) -> bytes | None:
    """An inpainting result: `base` kept where `mask` is white, repainted (the generated
    picture) where it is black; None when either file cannot be read or their sizes differ."""
    try:
        with Image.open(io.BytesIO(base)) as b, Image.open(io.BytesIO(mask)) as m:
            kept, where = b.convert("RGB"), m.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    if kept.size != where.size:
        return None
    painted = draw_character(kept.width, kept.height, key, character)
    repaint = where.point(lambda v: 255 if v < 128 else 0)
    return encode(Image.composite(painted, kept, repaint), fmt)


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
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,  # PIL's verify() on a broken chunk checksum
        EOFError,
        Image.DecompressionBombError,
    ):
        return None
    if fmt == "jpg":
        fmt = "jpeg"
    return Sniffed(fmt, size[0], size[1])
