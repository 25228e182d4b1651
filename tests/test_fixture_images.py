"""The fixture images the script makes: right formats and sizes, and the bad ones really bad."""

from __future__ import annotations

from pathlib import Path

from fixtures import make_images
from ideogram_mock.core import images


def test_fixture_images_script_makes_every_file(tmp_path: Path) -> None:
    written = make_images.make(folder=tmp_path)
    assert sorted(p.name for p in written) == sorted(make_images.MAKERS)
    again = make_images.make(only_missing=True, folder=tmp_path)
    assert again == []


def test_fixture_images_portraits_come_in_three_formats() -> None:
    found = {
        name: images.sniff((make_images.HERE / name).read_bytes())
        for name in ("portrait.png", "portrait.jpg", "portrait.webp")
    }
    assert {s.fmt for s in found.values() if s} == {"png", "jpeg", "webp"}
    assert {(s.width, s.height) for s in found.values() if s} == {(512, 512)}


def test_fixture_images_edit_base_and_mask_share_a_size_and_the_wrong_one_differs() -> None:
    base = images.sniff((make_images.HERE / "edit_base.png").read_bytes())
    mask = images.sniff((make_images.HERE / "edit_mask.png").read_bytes())
    wrong = images.sniff((make_images.HERE / "edit_mask_wrong_size.png").read_bytes())
    assert base and mask and wrong
    assert (base.width, base.height) == (mask.width, mask.height)
    assert (wrong.width, wrong.height) != (base.width, base.height)


def test_fixture_images_oversized_is_a_real_image_over_10_mb() -> None:
    path = make_images.HERE / "oversized.png"
    if not path.exists():
        make_images.make(only_missing=True)
    assert path.stat().st_size > make_images.OVERSIZED_BYTES
    assert images.sniff(path.read_bytes()) is not None


def test_fixture_images_not_an_image_is_refused() -> None:
    assert images.sniff((make_images.HERE / "not_an_image.png").read_bytes()) is None
