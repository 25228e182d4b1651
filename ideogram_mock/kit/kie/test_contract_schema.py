"""Schemathesis over every upstream operation: examples, coverage and fuzzing phases, positive
and negative data, every answer checked by its built-in checks and the kit's own."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema

from ideogram_mock.kit.kie.bridge import judge, to_request
from ideogram_mock.kit.kie.session import session
from ideogram_mock.server.spec import UPSTREAM, spec_path

kit = session()
schema: BaseSchema = schemathesis.openapi.from_path(str(spec_path(UPSTREAM)))
schema.config.update(base_url=kit.config.base_url)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=kit.config.max_examples,
    no_shrink=True,
    # Authentication is the kit's to test (test_auth_*): every generated request carries the
    # key, and schemathesis does not negate it.
    with_security_parameters=False,
)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
if kit.config.live:
    # Every accepted createTask spends credits: the live run tests it through the budgeted
    # catalogue tests instead.
    schema = schema.exclude(operation_id="createTask")


@schema.parametrize()
def test_operation_conforms(case: Case[Any]) -> None:
    try:
        request = to_request(kit, case)
    except (httpx.HTTPError, ValueError, TypeError, UnicodeError):
        return  # a generated request no HTTP client can send (e.g. a header with a newline)
    judge(kit, case, kit.send(request, check=False))
