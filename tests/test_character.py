"""Images that keep the character: the reference decides who is drawn, the prompt and seed the
scene; an edit repaints only the mask's black part when the fake can read its inputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from ideogram_mock.core import images
from ideogram_mock.server.app import create_app, make_fake
from tests.conftest import BASE, check_response, local_body, make_settings

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
FIGURE = slice(6 * 3, 11 * 3)  # palette entries 6..10: the figure's colours
SCENE = slice(0, 6 * 3)  # entries 0..5: the background bands


def _palette(png: bytes) -> list[int]:
    with Image.open(io.BytesIO(png)) as img:
        return list(img.getpalette() or [])


def test_character_the_figure_follows_the_character_key_and_the_scene_the_image_key() -> None:
    one = images.sketch(256, 256, key=1, character=77).getpalette() or []
    two = images.sketch(256, 256, key=2, character=77).getpalette() or []
    other = images.sketch(256, 256, key=1, character=78).getpalette() or []
    assert one[FIGURE] == two[FIGURE]
    assert one[SCENE] != two[SCENE]
    assert one[FIGURE] != other[FIGURE]


async def _result(client: httpx.AsyncClient, body: dict[str, object], key: str = "k1") -> bytes:
    auth = {"Authorization": f"Bearer {key}"}
    created = await client.post("/api/v1/jobs/createTask", json=body, headers=auth)
    task_id = created.json()["data"]["taskId"]
    await client.post(f"/_mock/tasks/{task_id}/finish")
    record = await client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=auth)
    url = json.loads(record.json()["data"]["resultJson"])["resultUrls"][0]
    return (await client.get(url)).content


async def test_character_one_reference_keeps_its_character_across_prompts_and_models() -> None:
    app = create_app(make_settings())
    transport = httpx.ASGITransport(app=app)
    hooks = {"response": [check_response]}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, event_hooks=hooks) as client:
        me = "http://127.0.0.1:9/me.png"
        knight = await _result(client, local_body(prompt="a knight", reference_image_urls=[me]))
        chef = await _result(client, local_body(prompt="a chef", reference_image_urls=[me]))
        remix = local_body("create_task_remix.json", prompt="a pilot", reference_image_urls=[me])
        pilot = await _result(client, remix)
        stranger = await _result(
            client, local_body(prompt="a knight", reference_image_urls=["http://127.0.0.1:9/x.png"])
        )
    assert _palette(knight)[FIGURE] == _palette(chef)[FIGURE] == _palette(pilot)[FIGURE]
    assert _palette(knight)[SCENE] != _palette(chef)[SCENE]
    assert _palette(stranger)[FIGURE] != _palette(knight)[FIGURE]


def test_character_edited_image_keeps_the_white_part_and_repaints_the_black() -> None:
    base = (FIXTURES / "edit_base.png").read_bytes()
    mask = (FIXTURES / "edit_mask.png").read_bytes()
    out = images.edited_image(base, mask, key=5, character=9)
    assert out is not None
    with (
        Image.open(io.BytesIO(out)) as result,
        Image.open(io.BytesIO(base)) as kept,
        Image.open(io.BytesIO(mask)) as where,
    ):
        result_px, kept_px = result.convert("RGB").load(), kept.convert("RGB").load()
        levels = where.convert("L").tobytes()  # one byte per pixel, row by row
        assert result_px is not None and kept_px is not None
        white = [
            (x, y) for x in range(0, 768, 7) for y in range(0, 768, 7) if levels[y * 768 + x] > 127
        ]
        black = [
            (x, y) for x in range(0, 768, 7) for y in range(0, 768, 7) if levels[y * 768 + x] < 128
        ]
        assert white and black
        assert all(result_px[p] == kept_px[p] for p in white)
        assert sum(result_px[p] != kept_px[p] for p in black) > len(black) // 2
    assert (
        images.edited_image(base, (FIXTURES / "edit_mask_wrong_size.png").read_bytes(), 5) is None
    )
    assert images.edited_image(b"not an image", mask, 5) is None


async def test_character_edit_task_repaints_only_the_mask_when_inputs_are_readable() -> None:
    files = {
        "http://127.0.0.1:9/base.png": (FIXTURES / "edit_base.png").read_bytes(),
        "http://127.0.0.1:9/mask.png": (FIXTURES / "edit_mask.png").read_bytes(),
        "http://127.0.0.1:9/portrait.png": (FIXTURES / "portrait.png").read_bytes(),
    }

    async def fetch(url: str, limit: int) -> bytes | None:
        return files.get(url)

    fake = make_fake(make_settings(fetch_inputs=True), fetcher=fetch)
    transport = httpx.ASGITransport(app=create_app(fake=fake))
    body = local_body("create_task_edit.json")
    body["input"].update(
        image_url="http://127.0.0.1:9/base.png", mask_url="http://127.0.0.1:9/mask.png"
    )
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        out = await _result(client, body)
    with (
        Image.open(io.BytesIO(out)) as result,
        Image.open(io.BytesIO(files[body["input"]["image_url"]])) as kept,
    ):
        assert result.size == kept.size == (768, 768)
        # A corner the fixture's mask keeps (white) is the input's own pixels.
        assert result.convert("RGB").getpixel((0, 0)) == kept.convert("RGB").getpixel((0, 0))
        assert result.convert("RGB").tobytes() != kept.convert("RGB").tobytes()


async def test_character_two_edits_of_one_scene_keep_their_own_inputs() -> None:
    other_base = images.encode(images.draw_character(768, 768, 3), "png")
    files = {
        "http://127.0.0.1:9/a.png": (FIXTURES / "edit_base.png").read_bytes(),
        "http://127.0.0.1:9/b.png": other_base,
        "http://127.0.0.1:9/mask.png": (FIXTURES / "edit_mask.png").read_bytes(),
        "http://127.0.0.1:9/portrait.png": (FIXTURES / "portrait.png").read_bytes(),
    }

    async def fetch(url: str, limit: int) -> bytes | None:
        return files.get(url)

    fake = make_fake(make_settings(fetch_inputs=True), fetcher=fetch)
    transport = httpx.ASGITransport(app=create_app(fake=fake))
    outs = []
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        for name in ("a", "b"):
            body = local_body("create_task_edit.json", seed=7)
            body["input"].update(
                image_url=f"http://127.0.0.1:9/{name}.png", mask_url="http://127.0.0.1:9/mask.png"
            )
            outs.append(await _result(client, body))
    corners = []
    for out in outs:
        with Image.open(io.BytesIO(out)) as img:
            corners.append(img.convert("RGB").getpixel((0, 0)))
    with Image.open(io.BytesIO(other_base)) as img:
        assert corners[1] == img.convert("RGB").getpixel((0, 0))
    assert outs[0] != outs[1]
