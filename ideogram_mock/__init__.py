"""A stateful fake of the Ideogram Character API as its resellers serve it (kie.ai first), with
pytest fixtures and a contract kit.

The public names load on first use, so `import ideogram_mock` (and the pytest plugin that
pytest loads at start-up) costs almost nothing until a name is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from ideogram_mock.server.app import create_app, make_fake
    from ideogram_mock.settings import RateLimit, Settings
    from ideogram_mock.testing.handle import Handle, HandleError, KieHandle
    from ideogram_mock.testing.inprocess import KieMock, ScenarioMock, SegmindMock
    from ideogram_mock.testing.live import KieServer

_EXPORTS = {
    "create_app": "ideogram_mock.server.app",
    "Settings": "ideogram_mock.settings",
    "RateLimit": "ideogram_mock.settings",
    "Handle": "ideogram_mock.testing.handle",
    "HandleError": "ideogram_mock.testing.handle",
    "KieHandle": "ideogram_mock.testing.handle",
    "KieServer": "ideogram_mock.testing.live",
    "make_fake": "ideogram_mock.server.app",
    "KieMock": "ideogram_mock.testing.inprocess",
    "SegmindMock": "ideogram_mock.testing.inprocess",
    "ScenarioMock": "ideogram_mock.testing.inprocess",
}
__all__ = [
    "Handle",
    "HandleError",
    "KieHandle",
    "KieMock",
    "KieServer",
    "RateLimit",
    "ScenarioMock",
    "SegmindMock",
    "Settings",
    "__version__",
    "create_app",
    "make_fake",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ideogram_mock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
