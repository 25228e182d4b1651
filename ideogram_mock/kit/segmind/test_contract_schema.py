"""Schemathesis over every Segmind operation: examples, coverage and fuzzing phases, positive
and negative data, every answer checked by its built-in checks and the kit's own."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection

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
    kit.run_case(case, _excluded(case))
