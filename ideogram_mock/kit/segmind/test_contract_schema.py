"""Schemathesis over every Segmind operation: examples, coverage and fuzzing phases, positive
and negative data, every answer checked by its built-in checks and the kit's own."""

from __future__ import annotations

from typing import Any

from schemathesis import Case
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection

from ideogram_mock.kit.cases import schema_for
from ideogram_mock.kit.segmind.session import SPEC, SPENDING, session

kit = session()
schema = schema_for(kit, SPEC, SPENDING)


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
    kit.run_case(case, _excluded(case))
