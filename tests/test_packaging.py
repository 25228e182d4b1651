"""What a user installing the package or cleaning a checkout gets: a wheel with its licence,
version, classifiers and every spec; `make clean` removing everything the targets create and
nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from ideogram_mock import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_licence_version_classifiers_and_every_spec(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ideogram_mock-*.whl")
    assert wheel.name.startswith(f"ideogram_mock-{__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"ideogram_mock-{__version__}.dist-info/METADATA").decode()
    for spec in ("kie-jobs.yaml", "segmind.yaml", "scenario.yaml", "mock-control.yaml"):
        assert f"ideogram_mock/_openapi/{spec}" in names
    assert "ideogram_mock/server/ui.html" in names  # the inspector's page
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert f"Version: {__version__}" in metadata
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Framework :: Pytest" in metadata
    assert (ROOT / "CHANGELOG.md").read_text().count(f"## {__version__}") == 1


def test_make_clean_removes_what_the_targets_create_and_nothing_else(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    made = [
        ".venv/bin",
        ".mypy_cache/x",
        ".ruff_cache/x",
        ".pytest_cache/x",
        ".hypothesis/x",
        ".schemathesis/x",
        "reports/bench.json",
        "build/lib",
        "dist/x.whl",
        "ideogram_mock.egg-info/PKG-INFO",
        "ideogram_mock/__pycache__/x.pyc",
        "fixtures/images/oversized.png",
    ]
    kept = ["fixtures/images/portrait.png", "ideogram_mock/core.py", "README.md"]
    for name in [*made, *kept]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, timeout=60)
    for name in made:
        assert not (tmp_path / name).exists(), name
    for name in kept:
        assert (tmp_path / name).exists(), name
