"""The benchmark code runs and reports every figure (it never judges them: `make bench` does)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import run


def test_bench_quick_in_process_suites_report_their_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert run.main(["--quick", "--only", "memory,latency", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["memory"]["tasks"] == 2000
    assert figures["memory"]["bytes_per_task"] > 0
    assert set(figures["latency"]) == {
        "median_us_100", "median_us_2000", "ratio", "target_ratio_at_most",
    }  # fmt: skip
