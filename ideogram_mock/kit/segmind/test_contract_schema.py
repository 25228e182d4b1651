"""Schemathesis over every Segmind operation: examples, coverage and fuzzing phases, positive
and negative data, every answer checked by its built-in checks and the kit's own."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection

from ideogram_mock.kit.cases import describe, to_request
from ideogram_mock.kit.findings import BREAKING, Finding
from ideogram_mock.kit.segmind.session import SPEC, SPENDING, session
from ideogram_mock.server.spec import spec_path

kit = session()
schema: BaseSchema = schemathesis.openapi.from_path(str(spec_path(SPEC)))
schema.config.update(base_url=kit.config.base_url)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=kit.config.max_examples,
    no_shrink=True,
    with_security_parameters=False,
)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
if kit.config.live:
    # Every accepted generation spends credits: the live run tests them through the budgeted
    # behaviour tests instead.
    for operation_id in SPENDING:
        schema = schema.exclude(operation_id=operation_id)


def _excluded(case: Case[Any]) -> list[Any]:
    """ignored_auth re-sends past the kit's client (the kit checks auth itself). A v2 submit
    queues any JSON object and fails it later (the spec's x-observed), and a form field's
    wrong JSON type does not survive being sent as text: neither refuses negative data."""
    excluded: list[Any] = [ignored_auth]
    multipart = (case.media_type or "").startswith("multipart/")
    if case.operation.definition.raw.get("operationId") == "submit" or multipart:
        excluded.append(negative_data_rejection)
    return excluded


@schema.parametrize()
def test_operation_conforms(case: Case[Any]) -> None:
    try:
        request = to_request(kit, case)
    except (httpx.HTTPError, ValueError, TypeError, UnicodeError):
        return  # a generated request no HTTP client can send (e.g. a header with a newline)
    response = kit.send(request, check=False)
    op = kit.operation(request)
    found = kit.check(op, response) if op is not None else []
    kit.findings.extend(found)
    try:
        case.validate_response(
            Response.from_httpx(response, verify=True), excluded_checks=_excluded(case)
        )
    except FailureGroup as group:
        for failure in group.exceptions:
            title = getattr(failure, "title", type(failure).__name__)
            first = str(failure).splitlines()[0] if str(failure) else title
            where = op or f"{request.method} {request.url.path}"
            kit.findings.add(Finding(BREAKING, f"check: {title}", where, first, describe(request)))
        raise
    breaking = [f for f in found if f.severity == BREAKING]
    assert not breaking, "; ".join(f"{f.where}: {f.message}" for f in breaking)
