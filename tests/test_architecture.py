"""The package's shape: a core that knows no vendor or web stack, a kit that loads only when
asked, and public names at the root."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ideogram_mock

PACKAGE = Path(ideogram_mock.__file__).parent
FORBIDDEN_IN_CORE = (
    *("starlette", "httpx", "respx", "uvicorn"),
    *("ideogram_mock.providers", "ideogram_mock.server", "ideogram_mock.testing"),
    "ideogram_mock.kit",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name)
def test_architecture_core_imports_no_web_stack_and_no_provider(path: Path) -> None:
    bad = {
        name
        for name in _imports(path)
        for forbidden in FORBIDDEN_IN_CORE
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_architecture_folders_show_the_layers() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert {"core", "stores", "providers", "server", "testing", "kit"} <= folders
    assert (PACKAGE / "providers" / "kie").is_dir()


def test_architecture_root_exports_the_public_names() -> None:
    for name in ideogram_mock.__all__:
        assert getattr(ideogram_mock, name) is not None
    assert issubclass(ideogram_mock.HandleError, Exception)


def test_architecture_fixtures_load_neither_schemathesis_nor_hypothesis() -> None:
    code = (
        "import sys, ideogram_mock.testing.plugin, ideogram_mock.testing.inprocess;"
        "print(sorted(m for m in ('schemathesis', 'hypothesis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
