"""Schemathesis over every upstream operation: examples, coverage and fuzzing phases, positive
and negative data, every answer checked by its built-in checks and the kit's own."""

from __future__ import annotations

from typing import Any

import httpx
from schemathesis import Case

from ideogram_mock.kit.cases import schema_for
from ideogram_mock.kit.kie.bridge import judge, to_request
from ideogram_mock.kit.kie.session import session
from ideogram_mock.server.spec import UPSTREAM

kit = session()
# Live, createTask is tested through the budgeted catalogue tests instead.
schema = schema_for(kit, UPSTREAM, spending=("createTask",))


@schema.parametrize()
def test_operation_conforms(case: Case[Any]) -> None:
    try:
        request = to_request(kit, case)
    except (httpx.HTTPError, ValueError, TypeError, UnicodeError):
        return  # a generated request no HTTP client can send (e.g. a header with a newline)
    judge(kit, case, kit.send(request, check=False))
