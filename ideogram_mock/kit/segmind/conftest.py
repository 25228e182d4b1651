"""The kit's fixtures and its end-of-run report (findings to the terminal and KIT_FINDINGS)."""

from __future__ import annotations

import pytest

from ideogram_mock.kit import report
from ideogram_mock.kit.segmind.session import SegmindKit, session


@pytest.fixture(scope="session")
def kit() -> SegmindKit:
    return session()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from ideogram_mock.kit.segmind import session as module

    if module.session.cache_info().currsize:
        report.finish(module.session())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from ideogram_mock.kit.segmind import session as module

    if module.session.cache_info().currsize:
        kit = module.session()
        report.summarise(terminalreporter, kit, kit.notes())
