"""The kit's fixtures and its end-of-run report (findings to the terminal and KIT_FINDINGS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ideogram_mock.kit.kie.session import KitSession, session


@pytest.fixture(scope="session")
def kit() -> KitSession:
    return session()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from ideogram_mock.kit.kie import session as module

    if module.session.cache_info().currsize == 0:
        return
    kit = module.session()
    if kit.config.findings_path:
        Path(kit.config.findings_path).write_text(kit.findings.dump())
    kit.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from ideogram_mock.kit.kie import session as module

    if module.session.cache_info().currsize == 0:
        return
    kit = module.session()
    write = terminalreporter.write_line
    terminalreporter.section("contract kit")
    write(f"target: {kit.config.mode} {kit.config.base_url}; tasks created: {kit.tasks_created}")
    seen = ", ".join(sorted(kit.observed_conventions)) or "no errors seen"
    write(f"HTTP status convention expected {kit.expected_convention}; observed: {seen}")
    breaking, additive = kit.findings.breaking(), kit.findings.additive()
    write(f"findings: {len(breaking)} breaking, {len(additive)} additive")
    for finding in [*breaking, *additive]:
        write(f"  [{finding.severity}] {finding.where}: {finding.message}")
