"""The end of a kit run, the same for every provider: findings to KIT_FINDINGS and a terminal
section naming the target and each finding."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Protocol

import pytest

from ideogram_mock.kit.config import KitConfig
from ideogram_mock.kit.findings import Findings


class Run(Protocol):
    config: KitConfig
    findings: Findings
    tasks_created: int

    def close(self) -> None: ...

    def notes(self) -> list[str]: ...


def finish(kit: Run) -> None:
    """Close the run (its clean-up included), then write the findings where KIT_FINDINGS says
    and the run's notes beside them (`<KIT_FINDINGS>.notes`, read by the drift report)."""
    kit.close()
    if kit.config.findings_path:
        Path(kit.config.findings_path).write_text(kit.findings.dump())
        Path(kit.config.findings_path + ".notes").write_text(json.dumps(kit.notes()))


def summarise(reporter: pytest.TerminalReporter, kit: Run, notes: list[str]) -> None:
    write = reporter.write_line
    reporter.section("contract kit")
    write(f"target: {kit.config.mode} {kit.config.base_url}; tasks created: {kit.tasks_created}")
    for note in notes:
        write(note)
    breaking, additive = kit.findings.breaking(), kit.findings.additive()
    write(f"findings: {len(breaking)} breaking, {len(additive)} additive")
    for finding in [*breaking, *additive]:
        write(f"  [{finding.severity}] {finding.where}: {finding.message}")


def hooks(factory: functools._lru_cache_wrapper[Any]) -> tuple[Any, Any, Any]:
    """A kit package's conftest in one line: its `kit` fixture and its end-of-run hooks, for
    the cached `session()` of its session module (nothing is reported if no test made one)."""

    @pytest.fixture(scope="session")
    def kit() -> Any:
        return factory()

    def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
        if factory.cache_info().currsize:
            finish(factory())

    def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
        if factory.cache_info().currsize:
            run = factory()
            summarise(terminalreporter, run, run.notes())

    return kit, pytest_sessionfinish, pytest_terminal_summary
