"""pytest fixtures for clients of the providers the fake speaks: `kie_mock`, `segmind_mock`,
`scenario_mock` (in-process, respx) and `kie_server`, `segmind_server`, `scenario_server` (a
loopback port), configured per test with `@pytest.mark.kie(...)`, `@pytest.mark.segmind(...)`
or `@pytest.mark.scenario(...)` (the same settings). Registered through the `pytest11` entry
point, so installing the package is all it takes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ideogram_mock.settings import Settings
    from ideogram_mock.testing.inprocess import KieMock
    from ideogram_mock.testing.live import KieServer, RunningServer

MARKERS = ("kie", "segmind", "scenario")


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line(
            "markers",
            f"{marker}(**settings): configure the fake of the {marker}_mock / {marker}_server "
            "fixtures for this test: any Settings field (api_keys, credits, rate_limit='N/S' "
            "or None, http_status, clock, time_scale, webhook_hmac_key, ...), and hosts=[...], "
            "pass_through=False for the in-process fixture.",
        )


# Marker options that are not Settings fields: the in-process fixtures' own.
FIXTURE_OPTIONS = {
    "hosts": "base URLs to serve in-process (a list)",
    "pass_through": "let httpx requests to hosts nobody routed reach the network (default True)",
}


class MarkerError(ValueError):
    """A marker value the fixtures cannot use, named with the valid choices."""


def _wanted(request: pytest.FixtureRequest) -> tuple[Settings, tuple[str, ...] | None, bool]:
    from ideogram_mock.settings import LISTS, RateLimit, Settings

    options: dict[str, Any] = {"clock": "manual"}
    marks = [m for m in request.node.iter_markers() if m.name in MARKERS]
    for mark in reversed(marks):
        if mark.args:
            raise MarkerError(f"@pytest.mark.{mark.name} takes keyword settings only")
        options.update(mark.kwargs)
    fields = {f.name: str(f.type) for f in dataclasses.fields(Settings)}
    for key, value in options.items():
        if key not in fields and key not in FIXTURE_OPTIONS:
            choices = ", ".join(sorted([*fields, *FIXTURE_OPTIONS]))
            raise MarkerError(f"unknown fixture setting {key!r}; settings: {choices}")
        if key in (*LISTS, "hosts"):
            if isinstance(value, str) or not all(isinstance(v, str) for v in value or ()):
                raise MarkerError(f"{key} must be a list of strings, not {value!r}")
        elif key == "rate_limit":
            if not (value is None or isinstance(value, str | RateLimit)):
                raise MarkerError(f"rate_limit must be 'N/S', 'off' or None, not {value!r}")
        elif key in fields and value is not None:
            kind = fields[key]
            expected = {"bool": bool, "int": int, "float": int | float, "str": str}.get(kind)
            if kind == "str | None":
                expected = str
            wrong_bool = kind in ("int", "float") and isinstance(value, bool)
            if expected is not None and (wrong_bool or not isinstance(value, expected)):
                raise MarkerError(f"{key} must be of type {kind}, not {value!r}")
        elif key == "pass_through" and not isinstance(value, bool):
            raise MarkerError(f"pass_through must be True or False, not {value!r}")
    hosts = options.pop("hosts", None)
    pass_through = bool(options.pop("pass_through", True))
    try:
        if isinstance(options.get("rate_limit"), str):
            options["rate_limit"] = RateLimit.parse(options["rate_limit"])
        for key in LISTS:
            if key in options:
                options[key] = tuple(options[key])
        settings = Settings(**options)
    except ValueError as exc:
        raise MarkerError(f"fixture settings: {exc}") from None
    return settings, tuple(hosts) if hosts else None, pass_through


class _Pool:
    """One fake per distinct configuration (and provider) for the whole session; reset
    between tests. Live servers serve every provider, so one per configuration."""

    def __init__(self) -> None:
        self.mocks: dict[tuple[str, Settings, tuple[str, ...] | None, bool], KieMock] = {}
        self.servers: dict[Settings, RunningServer] = {}

    def mock(self, provider: str, request: pytest.FixtureRequest) -> KieMock:
        from ideogram_mock.testing.inprocess import KieMock

        settings, hosts, pass_through = _wanted(request)
        key = (provider, settings, hosts, pass_through)
        mock = self.mocks.get(key)
        if mock is None:
            mock = self.mocks[key] = KieMock(settings, hosts, provider, pass_through=pass_through)
        mock.fake.reset(rewind_clock=True)
        return mock

    def serve(self, provider: str, request: pytest.FixtureRequest) -> Iterator[KieMock]:
        """An in-process fake for one test: patched in, then out."""
        mock = self.mock(provider, request)
        mock.start()
        try:
            yield mock
        finally:
            mock.stop()

    def server(self, provider: str, request: pytest.FixtureRequest) -> KieServer:
        from ideogram_mock.testing.live import KieServer, start_server

        settings, _, _ = _wanted(request)
        running = self.servers.get(settings)
        if running is None:
            running = self.servers[settings] = start_server(settings.replace(port=0))
        server = KieServer(running, provider)
        server.reset()
        return server

    def close(self) -> None:
        for mock in self.mocks.values():
            mock.close()
        for running in self.servers.values():
            running.stop()


@pytest.fixture(scope="session")
def _kie_pool() -> Iterator[_Pool]:
    pool = _Pool()
    yield pool
    pool.close()


@pytest.fixture
def kie_mock(request: pytest.FixtureRequest, _kie_pool: _Pool) -> Iterator[KieMock]:
    """The fake in-process: httpx requests to https://api.kie.ai (and the apikley mirror, and
    every other provider's host) are served by it through respx, with no socket; the manual
    clock moves only when told."""
    yield from _kie_pool.serve("kie", request)


@pytest.fixture
def segmind_mock(request: pytest.FixtureRequest, _kie_pool: _Pool) -> Iterator[KieMock]:
    """`kie_mock` for Segmind clients: https://api.segmind.com first (the URLs it hands out
    are on it) and `headers()` with `x-api-key`; `SegmindClient(api_key=...)` needs no
    `base_url`."""
    yield from _kie_pool.serve("segmind", request)


@pytest.fixture
def kie_server(request: pytest.FixtureRequest, _kie_pool: _Pool) -> KieServer:
    """The fake on a real loopback port (a background thread), for clients that do not use
    httpx: `kie_server.base_url` is where to point them."""
    return _kie_pool.server("kie", request)


@pytest.fixture
def segmind_server(request: pytest.FixtureRequest, _kie_pool: _Pool) -> KieServer:
    """The fake on a loopback port for Segmind clients: `SegmindClient(api_key=...,
    base_url=segmind_server.base_url + "/v1")`."""
    return _kie_pool.server("segmind", request)


@pytest.fixture
def scenario_mock(request: pytest.FixtureRequest, _kie_pool: _Pool) -> Iterator[KieMock]:
    """`kie_mock` for Scenario clients: https://api.cloud.scenario.com first (the URLs it hands
    out are on it) and `headers()` with Basic auth of `test-key:test-secret`;
    `Scenario(api_key=..., api_secret=...)` needs no `base_url`."""
    yield from _kie_pool.serve("scenario", request)


@pytest.fixture
def scenario_server(request: pytest.FixtureRequest, _kie_pool: _Pool) -> KieServer:
    """The fake on a loopback port for Scenario clients: `Scenario(api_key=..., api_secret=...,
    base_url=scenario_server.base_url + "/v1")`."""
    return _kie_pool.server("scenario", request)
