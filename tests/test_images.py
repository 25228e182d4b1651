"""Pictures: real files of the promised format and size, the same for the same key."""

from __future__ import annotations

import io

import pytest

from ideogram_mock.core import images


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_images_generated_image_has_the_promised_format_and_size(fmt: str) -> None:
    data = images.generated_image(1024, 576, key=7, fmt=fmt)
    assert images.sniff(data) == images.Sniffed(fmt, 1024, 576)


def test_images_same_key_gives_the_same_bytes_and_another_key_differs() -> None:
    a = images.generated_image(256, 256, images.key_of(1, "a garden"))
    b = images.generated_image(256, 256, images.key_of(1, "a garden"))
    c = images.generated_image(256, 256, images.key_of(2, "a garden"))
    assert a == b
    assert a != c


def test_images_key_of_is_stable_across_processes() -> None:
    # Pinned from another process: hash() would differ between runs, key_of must not.
    assert images.key_of(42, "prompt", 0) == 2750751402680568892
    assert 0 <= images.key_of("x") < 2**64


@pytest.mark.parametrize(
    ("size", "key", "character", "pixels"),
    [
        ((1024, 1024), 7, None, "aebd0307cfec131c196a06e40cac50d7"),
        ((1312, 736), 11, 5, "848a0daaee8216918ef184ba7b90f0ef"),
        ((640, 480), 3, None, "109578daf33d00c5de853e5e7bcbc5c8"),
        ((768, 768), 99, 2, "df0dd382b838aa7b2d88793721bb99cf"),
        ((1536, 640), 4, None, "7e827e03c74edfd8f98cc84189dd08bd"),
        ((5, 3), 1, 1, "033f2b61d6ac218b4fac38f00611605c"),
    ],
)
def test_images_a_key_shows_the_picture_earlier_versions_drew(
    size: tuple[int, int], key: int, character: int | None, pixels: str
) -> None:
    # Pinned from the release before the writer was made faster: a client's snapshot of a
    # result image stays valid however the fake draws and encodes it.
    import hashlib

    from PIL import Image

    with Image.open(io.BytesIO(images.generated_image(*size, key, "png", character))) as img:
        drawn = img.convert("RGB").tobytes()
    assert hashlib.sha256(drawn).hexdigest()[:32] == pixels


def test_images_png_of_leaves_the_sketch_it_encodes_as_it_was() -> None:
    # The writer widens rows through a palette of its own; the caller's sketch keeps its.
    small = images.sketch(1024, 1024, 5)
    before = small.tobytes(), small.getpalette()
    first = images.png_of(small, 1024, 1024)
    assert (small.tobytes(), small.getpalette()) == before
    assert images.png_of(small, 1024, 1024) == first == images.generated_image(1024, 1024, 5)


def test_images_png_of_ignores_a_transparent_index_of_the_sketch() -> None:
    # A palette image read from a file may name a transparent index: the PNG of its pixels
    # is the same (the writer's own palette conversion must not honour it).
    for size in ((512, 512), (1024, 1024), (768, 768)):
        plain = images.sketch(*size, 5)
        marked = images.sketch(*size, 5)
        marked.info["transparency"] = 3
        assert images.png_of(marked, *size) == images.png_of(plain, *size)


def test_images_draws_the_numbers_randint_draws() -> None:
    import random

    ranges = [(0, 0), (0, 1), (3, 200), (0, 120), (120, 255), (60, 230), (0, 1024), (5, 21)]
    ours, theirs = random.Random(2**64 - 1), random.Random(2**64 - 1)
    for low, high in ranges * 200:
        assert images._between(ours, low, high) == theirs.randint(low, high)
    with pytest.raises(ValueError, match="empty range"):
        images._between(ours, 1, 0)


def test_images_sniff_refuses_text_and_truncated_files() -> None:
    assert images.sniff(b"not an image") is None
    data = images.generated_image(64, 64, 1)
    assert images.sniff(data[: len(data) // 2]) is None


def test_images_encode_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="gif"):
        images.encode(images.draw_character(8, 8, 1), "gif")


def test_images_mask_is_black_and_white_with_both_present() -> None:
    mask = images.mask_for(64, 48, 3)
    assert mask.size == (64, 48)
    assert {value for _, value in mask.getcolors() or []} == {0, 255}


# Scale 8 (rows widened through RGBA), 4 (LA), 6 (RGB), 2 (no widening), 10 (a resize), odd.
@pytest.mark.parametrize(
    "size",
    [
        (1024, 1024),
        (1024, 576),
        (576, 1024),
        (768, 1024),
        (512, 512),
        (768, 768),
        (256, 256),
        (1280, 800),
        (1312, 736),
    ],
)
def test_images_fast_png_writer_matches_pillows_own_upscale(size: tuple[int, int]) -> None:
    from PIL import Image

    width, height = size
    small = images.sketch(width, height, 11)
    decoded = Image.open(io.BytesIO(images.png_of(small, width, height)))
    expected = small.resize(size, Image.Resampling.NEAREST)
    assert decoded.size == size
    assert decoded.tobytes() == expected.tobytes()


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (1000, 751), (4096, 8), (131_070, 8)])
def test_images_fast_png_writer_handles_any_size(size: tuple[int, int]) -> None:
    data = images.generated_image(*size, key=5)
    assert images.sniff(data) == images.Sniffed("png", *size)


@pytest.mark.parametrize(
    "size", [(1024, 1024), (512, 512), (1024, 576), (4096, 4096), (1312, 736), (1000, 751)]
)
def test_images_png_streams_carry_true_checksums_whichever_writer_drew_them(
    size: tuple[int, int],
) -> None:
    import struct
    import zlib

    width, height = size
    for key in (1, 2**64 - 1, 987654321):
        small = images.sketch(width, height, key)
        data = images.png_of(small, width, height)
        chunks, at = {}, 8
        while at < len(data):
            (length,) = struct.unpack(">I", data[at : at + 4])
            tag, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
            (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
            assert zlib.crc32(tag + body) == crc
            chunks[tag] = body
            at += 12 + length
        scanlines = zlib.decompress(chunks[b"IDAT"])  # checks the stream's adler32
        assert len(scanlines) == height * ((width + 1) // 2 + 1)
        scale = images.scale_for(width, height)
        if width == small.width * scale and height == small.height * scale and scale % 2 == 0:
            # The even-scale writer's shortcut gives the very bytes of the general one.
            assert images._idat_even(small, scale) == images._idat_any(small, width, height)


def _plainly_drawn(width: int, height: int, key: int, character: int) -> bytes:
    """The sketch as first written: the background drawn afresh, the shapes, then the whole
    figure layer pasted through its whole mask."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(key)
    scale = images.scale_for(width, height)
    w, h = max(1, -(-width // scale)), max(1, -(-height // scale))
    figure = images._draw_figure(w, h, character)
    layer, mask = Image.new("P", (w, h), 0), Image.new("L", (w, h), 0)
    layer.paste(figure.layer, figure.box)
    mask.paste(figure.mask, figure.box)

    def colour(low: int, high: int) -> list[int]:  # randint itself, not the sketch's draws
        return [rng.randint(low, high) for _ in range(3)]

    low, high = colour(0, 120), colour(120, 255)
    palette: list[int] = []
    for i in range(6):
        t = i / 5
        palette += [round(a + (b - a) * t) for a, b in zip(low, high, strict=True)]
    palette += figure.colours
    for _ in range(5):
        palette += colour(60, 230)
    order = bytes(range(6)) if rng.random() < 0.5 else bytes(reversed(range(6)))
    strip = (1, 6) if rng.random() < 0.5 else (6, 1)
    img = Image.frombytes("P", strip, order).resize((w, h), Image.Resampling.NEAREST)
    img.putpalette(palette)
    draw = ImageDraw.Draw(img)
    unit = min(w, h)
    for i in range(5):
        r = rng.randint(unit // 20, unit // 6)
        x, y = rng.randint(0, w), rng.randint(0, h)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=11 + i)
    img.paste(layer, (0, 0), mask)
    return img.tobytes() + bytes(img.getpalette() or [])


@pytest.mark.parametrize("size", [(1024, 1024), (1312, 736), (64, 64), (7, 3), (1, 1)])
def test_images_sketches_equal_the_plain_drawing_and_never_leak_into_each_other(
    size: tuple[int, int],
) -> None:
    # The sketch copies a cached background and pastes only the figure's box: the same
    # pixels as drawing it all afresh, however many scenes of one size came before.
    width, height = size
    first = images.sketch(width, height, 1, character=3)
    for key in range(2, 40):
        drawn = images.sketch(width, height, key, character=3)
        assert drawn.tobytes() + bytes(drawn.getpalette() or []) == _plainly_drawn(
            width, height, key, 3
        )
    again = images.sketch(width, height, 1, character=3)
    assert again.tobytes() == first.tobytes()
    assert again.tobytes() + bytes(again.getpalette() or []) == _plainly_drawn(width, height, 1, 3)
