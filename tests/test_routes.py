from __future__ import annotations

import pytest

from ideogram_mock.server.routes import SpecMismatch, build_routes
from ideogram_mock.server.spec import load_spec


def test_routes_start_up_fails_when_a_handler_is_missing_or_extra() -> None:
    spec = load_spec()
    handlers = {op: object() for op in spec.operations}
    assert len(build_routes(spec, handlers, lambda op, h: h)) == 4
    missing = dict(handlers)
    missing.pop("createTask")
    with pytest.raises(SpecMismatch, match="createTask"):
        build_routes(spec, missing, lambda op, h: h)
    with pytest.raises(SpecMismatch, match="cancelTask"):
        build_routes(spec, {**handlers, "cancelTask": object()}, lambda op, h: h)


def test_routes_only_keeps_the_named_operations_but_still_checks_all() -> None:
    spec = load_spec()
    handlers = {op: object() for op in spec.operations}
    routes = build_routes(spec, handlers, lambda op, h: h, only=("getCredit",))
    assert [r.path for r in routes] == ["/api/v1/chat/credit"]
