"""pytest fixtures for clients of kie.ai: `kie_mock` (in-process, respx) and `kie_server`
(a loopback port), configured per test with `@pytest.mark.kie(...)`. Registered through the
`pytest11` entry point, so installing the package is all it takes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ideogram_mock.settings import Settings
    from ideogram_mock.testing.inprocess import KieMock
    from ideogram_mock.testing.live import KieServer

MARKER = "kie"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): configure the kie_mock / kie_server fake for this test: any "
        "Settings field (api_keys, credits, rate_limit='N/S' or None, http_status, clock, "
        "time_scale, webhook_hmac_key, ...), and hosts=[...] for kie_mock.",
    )


def _wanted(request: pytest.FixtureRequest) -> tuple[Settings, tuple[str, ...] | None]:
    from ideogram_mock.settings import RateLimit, Settings

    options: dict[str, Any] = {"clock": "manual"}
    for mark in reversed(list(request.node.iter_markers(MARKER))):
        options.update(mark.kwargs)
    hosts = options.pop("hosts", None)
    if isinstance(options.get("rate_limit"), str):
        options["rate_limit"] = RateLimit.parse(options["rate_limit"])
    for key in ("api_keys", "callback_hosts"):
        if key in options:
            options[key] = tuple(options[key])
    return Settings(**options), tuple(hosts) if hosts else None


class _Pool:
    """One fake per distinct configuration for the whole session; reset between tests."""

    def __init__(self) -> None:
        self.mocks: dict[tuple[Settings, tuple[str, ...] | None], KieMock] = {}
        self.servers: dict[Settings, KieServer] = {}

    def close(self) -> None:
        for mock in self.mocks.values():
            mock.close()
        for server in self.servers.values():
            server.close()


@pytest.fixture(scope="session")
def _kie_pool() -> Iterator[_Pool]:
    pool = _Pool()
    yield pool
    pool.close()


@pytest.fixture
def kie_mock(request: pytest.FixtureRequest, _kie_pool: _Pool) -> Iterator[KieMock]:
    """The fake in-process: httpx requests to https://api.kie.ai (and the apikley mirror) are
    served by it through respx, with no socket; the manual clock moves only when told."""
    from ideogram_mock.testing.inprocess import KieMock

    settings, hosts = _wanted(request)
    key = (settings, hosts)
    mock = _kie_pool.mocks.get(key)
    if mock is None:
        mock = _kie_pool.mocks[key] = KieMock(settings, hosts)
    mock.fake.reset(rewind_clock=True)
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def kie_server(request: pytest.FixtureRequest, _kie_pool: _Pool) -> KieServer:
    """The fake on a real loopback port (a background thread), for clients that do not use
    httpx: `kie_server.base_url` is where to point them."""
    from ideogram_mock.testing.live import KieServer, start_server

    settings, _ = _wanted(request)
    server = _kie_pool.servers.get(settings)
    if server is None:
        running = start_server(settings.replace(port=0))
        server = _kie_pool.servers[settings] = KieServer(running)
    server.reset()
    return server
