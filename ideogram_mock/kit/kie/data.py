"""The kit's data: the catalogue of invalid createTask bodies, and bodies for each model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ideogram_mock.kit.config import KitConfig

# Rules where the real API's handling is unknown (the spec's x-observed notes): the fake ignores
# unknown fields by default and refuses them with --strict-fields; an endpoint may do either.
FAKE_RULES = ("additionalProperties",)
# kie's own demo images (the docs' examples): real, public, jpeg/png/webp.
LIVE_IMAGES = {
    "portrait": "https://file.aiquickdraw.com/custom-page/akr/section-images/1755767145415pvz49dpi.webp",
    "base": "https://file.aiquickdraw.com/custom-page/akr/section-images/1755768466167d0tiuc6e.webp",
}
# Never fetched by the fake (it only validates URLs unless told to fetch).
FAKE_IMAGES = {"portrait": "http://127.0.0.1:9/portrait.png", "base": "http://127.0.0.1:9/base.png"}


def catalogue_path() -> Path:
    packaged = Path(__file__).parent / "_data" / "invalid_create_bodies.json"
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "fixtures" / "invalid_create_bodies.json"


def catalogue() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(catalogue_path().read_text())["cases"]
    for case in cases:
        case["documented"] = case["rule"] not in FAKE_RULES
    return cases


def body_for(model: str, config: KitConfig, prompt: str = "a knight in a garden") -> dict[str, Any]:
    """A small valid createTask body for a model, with images the target can use."""
    images = LIVE_IMAGES if config.live else FAKE_IMAGES
    inp: dict[str, Any] = {
        "prompt": prompt,
        "reference_image_urls": [images["portrait"]],
        "rendering_speed": "TURBO",
        "num_images": "1",
    }
    if model == "ideogram/character":
        inp["image_size"] = "landscape_16_9"
    elif model == "ideogram/character-edit":
        # No mask of the same size is public; the live run uses the portrait for both.
        inp["image_url"] = images["portrait"] if config.live else images["base"]
        inp["mask_url"] = images["portrait"] if config.live else images["base"]
    else:
        inp["image_url"] = images["base"]
        inp["image_size"] = "portrait_4_3"
        inp["strength"] = 0.5
    return {"model": model, "input": inp}
