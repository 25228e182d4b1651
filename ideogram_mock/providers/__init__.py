"""The providers the fake speaks, one dialect each. Adding one adds an entry here, its spec in
`openapi/`, its folder beside `kie/`, and its checks in the kit."""

from __future__ import annotations

from collections.abc import Iterable

from ideogram_mock.providers.base import Provider
from ideogram_mock.providers.kie import KIE
from ideogram_mock.providers.scenario import SCENARIO
from ideogram_mock.providers.segmind import SEGMIND

PROVIDERS: dict[str, Provider] = {p.name: p for p in (KIE, SEGMIND, SCENARIO)}


def selected(names: Iterable[str] = ()) -> list[Provider]:
    """The providers to serve: the named ones (all when none are named), in registry order."""
    wanted = set(names)
    unknown = wanted - set(PROVIDERS)
    if unknown:
        raise ValueError(
            f"unknown provider(s) {sorted(unknown)}; choose from {', '.join(PROVIDERS)}"
        )
    return [p for name, p in PROVIDERS.items() if not wanted or name in wanted]


def hosts(names: Iterable[str] = ()) -> tuple[str, ...]:
    """Every base URL the selected providers answer on (for in-process routing)."""
    return tuple(host for p in selected(names) for host in p.hosts)
