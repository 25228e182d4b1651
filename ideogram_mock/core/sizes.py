"""Ideogram's own pixel sizes: each aspect ratio at about one megapixel, on its resolution grid
(the same model behind every provider, so every dialect that takes a ratio uses these)."""

from __future__ import annotations

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1312, 736),
    "9:16": (736, 1312),
    "4:3": (1152, 864),
    "3:4": (864, 1152),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "16:10": (1280, 800),
    "10:16": (800, 1280),
    "5:4": (1120, 896),
    "4:5": (896, 1120),
    "2:1": (1408, 704),
    "1:2": (704, 1408),
    "3:1": (1536, 512),
    "1:3": (512, 1536),
}


def parse_size(text: str) -> tuple[int, int]:
    """`"1024x768"` as (1024, 768)."""
    width, _, height = text.partition("x")
    return int(width), int(height)
