"""The kit's fixtures and its end-of-run report (findings to the terminal and KIT_FINDINGS)."""

from __future__ import annotations

from ideogram_mock.kit import report
from ideogram_mock.kit.kie.session import session

kit, pytest_sessionfinish, pytest_terminal_summary = report.hooks(session)
