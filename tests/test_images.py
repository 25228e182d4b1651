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


@pytest.mark.parametrize("size", [(1024, 1024), (1024, 576), (576, 1024), (768, 1024), (512, 512)])
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
