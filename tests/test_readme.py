"""The README's examples run: its Python blocks, and its curl session against a live fake."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_session_runs_against_a_live_fake() -> None:
    lines = [
        line for block in _blocks("sh") for line in block.splitlines() if line.startswith("curl ")
    ]
    assert len(lines) >= 5
    with running_server(Settings(port=0)) as server:
        address = server.url.removeprefix("http://")
        answers = []
        for line in lines:
            result = subprocess.run(
                ["bash", "-c", line.replace("127.0.0.1:8000", address)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert result.returncode == 0, (line, result.stderr)
            answers.append(json.loads(result.stdout))
    created, tasks, record, credit, fault, reset = answers
    assert created["code"] == 200
    assert tasks["count"] == 1
    assert record["data"]["taskId"] == created["data"]["taskId"]
    assert record["data"]["state"] == "success"
    assert credit["data"] == 100_000 - 18
    assert fault["code"] == 429
    assert reset == {"ok": True}


def test_readme_plugin_example_runs_as_a_test(pytester: pytest.Pytester) -> None:
    block = next(b for b in _blocks("python") if "def test_" in b)
    pytester.makepyfile(test_readme_example=block)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
