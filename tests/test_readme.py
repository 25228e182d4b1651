"""The README's examples run: its Python blocks, and its curl session against a live fake."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from ideogram_mock.settings import Settings
from ideogram_mock.testing.live import running_server

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_python_examples_run() -> None:
    blocks = [b for b in _blocks("python") if "def test_" not in b]
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})


def _curl_sessions() -> list[list[str]]:
    """Each sh block's curl lines, one session per block."""
    sessions = [
        [line for line in block.splitlines() if line.startswith("curl ")] for block in _blocks("sh")
    ]
    return [lines for lines in sessions if lines]


def _run(lines: list[str], cwd: Path) -> list[object]:
    """Each line against a fresh live fake; JSON answers parsed, others as text."""
    answers: list[object] = []
    with running_server(Settings(port=0)) as server:
        address = server.url.removeprefix("http://")
        for line in lines:
            result = subprocess.run(
                ["bash", "-c", line.replace("127.0.0.1:8000", address)],
                capture_output=True,
                text=True,
                timeout=30,
                cwd=cwd,
            )
            assert result.returncode == 0, (line, result.stderr)
            try:
                answers.append(json.loads(result.stdout))
            except ValueError:
                answers.append(result.stdout.strip())
    return answers


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_session_runs_against_a_live_fake(tmp_path: Path) -> None:
    lines = next(s for s in _curl_sessions() if "createTask" in s[0])
    assert len(lines) >= 5
    created, tasks, record, credit, fault, reset = _run(lines, tmp_path)
    assert isinstance(created, dict) and created["code"] == 200
    assert isinstance(tasks, dict) and tasks["count"] == 1
    assert isinstance(record, dict)
    assert record["data"]["taskId"] == created["data"]["taskId"]
    assert record["data"]["state"] == "success"
    assert credit == {"code": 200, "msg": "success", "data": 100_000 - 18}
    assert isinstance(fault, dict) and fault["code"] == 429
    assert reset == {"ok": True}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_segmind_curl_session_runs_against_a_live_fake(tmp_path: Path) -> None:
    lines = next(s for s in _curl_sessions() if "/v2/ideogram-character" in s[0])
    submitted, status, result, credits, image = _run(lines, tmp_path)
    assert isinstance(submitted, dict) and submitted["status"] == "QUEUED"
    assert submitted["request_id"] == "a7636d0a-ee4a-496a-9be9-bb4169567836"
    assert isinstance(status, dict) and status["status"] == "COMPLETED"
    assert isinstance(result, dict) and result["output"].startswith("http://127.0.0.1:")
    assert credits == {"credits": 500.0 - 0.125, "free-credits": 0.0}
    assert image == "200 image/jpeg"
    with Image.open(tmp_path / "knight.jpg") as picture:
        assert picture.size == (1024, 1024)


def test_readme_plugin_examples_run_as_tests(pytester: pytest.Pytester) -> None:
    blocks = [b for b in _blocks("python") if "def test_" in b]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        pytester.makepyfile(**{f"test_readme_example_{i}": block})
    tests = sum(block.count("\ndef test_") + block.startswith("def test_") for block in blocks)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=tests)
