"""The control API does what its spec says: schemathesis over it (every check, valid and invalid
data) against a live fake finds nothing, and the spec's fault codes are the providers' own."""

from __future__ import annotations

import subprocess
import sys
from itertools import chain
from pathlib import Path
from typing import Any

from ideogram_mock.providers import PROVIDERS
from ideogram_mock.server.spec import CONTROL, load_document
from ideogram_mock.settings import Settings
from ideogram_mock.testing.live import start_server

ROOT = Path(__file__).resolve().parent.parent


def _fault_codes() -> list[dict[str, Any]]:
    """What the spec's FaultCodes must say, from each provider's wording."""
    wordings = {p.name: p.make_dialect(Settings()).wording for p in PROVIDERS.values()}
    codes = {n: sorted(w.error_codes) for n, w in wordings.items()}
    endpoints = {n: list(w.endpoints) for n, w in wordings.items()}
    rules: list[dict[str, Any]] = [
        {
            "if": {"required": ["provider"], "properties": {"provider": {"const": name}}},
            "then": {
                "properties": {
                    "endpoint": {"enum": [*endpoints[name], "*"]},
                    "code": {"enum": codes[name]},
                }
            },
        }
        for name in wordings
    ]
    groups: dict[tuple[str, ...], list[str]] = {}
    for endpoint in sorted(set(chain(*endpoints.values()))):
        owners = tuple(n for n in wordings if endpoint in endpoints[n])
        groups.setdefault(owners, []).append(endpoint)
    groups[tuple(wordings)] = [*groups.get(tuple(wordings), []), "*"]
    for owners, named in groups.items():
        allowed = sorted(set.intersection(*(set(codes[o]) for o in owners)))
        rules.append(
            {
                "if": {
                    "not": {"required": ["provider"]},
                    "properties": {"endpoint": {"enum": named}},
                },
                "then": {"properties": {"code": {"enum": allowed}}},
            }
        )
    return rules


def test_the_spec_allows_each_fault_code_its_provider_answers_with() -> None:
    document = load_document(CONTROL)
    assert document["components"]["schemas"]["FaultCodes"]["allOf"] == _fault_codes()


def test_schemathesis_finds_nothing_wrong_with_the_control_api() -> None:
    server = start_server(Settings(port=0, time_scale=0.0, clock="manual"))
    try:
        result = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run", "openapi/mock-control.yaml",
                "--url", server.url, "--checks", "all", "--max-examples", "40", "--seed", "3",
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-4000:]
