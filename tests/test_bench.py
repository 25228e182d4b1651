"""The benchmark code runs and reports every figure (it never judges them: `make bench` does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run


def test_bench_quick_in_process_suites_report_their_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert run.main(["--quick", "--only", "memory,latency,lifecycle", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["lifecycle"]["lifecycles"] == 100
    assert (
        0
        < figures["lifecycle"]["baseline_respx_median_ms"]
        < figures["lifecycle"]["total_s"] * 1000
    )
    assert figures["memory"]["tasks"] == 2000
    assert figures["memory"]["bytes_per_task"] > 0
    # A prompt of its own per task: each request is kept, none shared with another task.
    assert figures["memory"]["distinct_bytes_per_task"] > figures["memory"]["bytes_per_task"]
    assert set(figures["latency"]) == {
        "median_us_100", "median_us_2000", "ratio", "target_ratio_at_most", "task_list_ms_2000",
        "target_task_list_ms",
    }  # fmt: skip


def test_bench_marks_each_target_met_or_missed() -> None:
    figures = {"recordInfo_ratio": 0.5, "recordInfo_target": 0.6, "createTask_ratio": 0.7}
    figures["createTask_target"] = 0.4
    lines = run.verdicts("http", figures)
    assert lines[0].strip().startswith("MISSED http.recordInfo_ratio = 0.5 (target ≥ 0.6)")
    assert lines[1].strip().startswith("met")
    assert run.verdicts("memory", {"bytes_per_task": 900, "target_bytes": 1024})[0].strip() == (
        "met    memory.bytes_per_task = 900 (target ≤ 1024)"
    )


def test_bench_profile_reports_every_hot_path(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import profile

    monkeypatch.setenv("PROFILE_COUNT", "50")
    monkeypatch.setenv("PROFILE_TOP", "3")
    assert profile.main([]) == 0
    out = capsys.readouterr().out
    for name in ("recordInfo", "createTask", "segmindPoll", "scenarioPoll", "download"):
        assert f"{name}: fake " in out
    assert "(answer 72445 B)" in out  # the download's: a 1024×1024 PNG, drawn each time
    assert "not available" not in out


def test_bench_workers_ceiling_is_the_first_limit_two_workers_meet() -> None:
    # One worker answered 10,000/s at 80 µs of its CPU a request; wrk spent 20 µs a request.
    # On 2 cores shared with wrk: 2 / 100 µs = 20,000/s, a ratio of 2.0 at best.
    assert run.workers_ceiling(10_000, 80.0, 20.0, 2) == pytest.approx(2.0)
    # The dearer the client per request, the lower the ceiling.
    assert run.workers_ceiling(10_000, 80.0, 40.0, 2) == pytest.approx(2 / 1.2)
    # On 8 cores the 2 workers themselves are the limit: 2 / 80 µs = 25,000/s.
    assert run.workers_ceiling(10_000, 80.0, 20.0, 8) == pytest.approx(2.5)
    # And a cheap server against a dear client: wrk's 2 threads, 2 / 50 µs = 40,000/s.
    assert run.workers_ceiling(10_000, 10.0, 50.0, 64) == pytest.approx(4.0)


def test_bench_tree_cpu_counts_a_process_and_its_children() -> None:
    import subprocess
    import sys
    import time

    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"
    parent = subprocess.Popen([sys.executable, "-c", spawn])
    try:
        seen = 0.0
        deadline = time.monotonic() + 20
        while parent.poll() is None and time.monotonic() < deadline:
            seen = max(seen, run._tree_cpu_s(parent.pid))  # the child's CPU, while it lives
            time.sleep(0.02)
    finally:
        parent.kill()
        parent.wait()
    assert seen >= 0.2
    assert run._tree_cpu_s(parent.pid) == 0.0  # gone: nothing to count
