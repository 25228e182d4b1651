"""Schemathesis over every Scenario operation: examples, coverage and fuzzing phases, positive
and negative data, every answer checked by its built-in checks and the kit's own."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from ideogram_mock.kit.scenario.session import SPEC, SPENDING, session
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
# The asset links are signed: generated ones are refused by design (403), and the kit follows
# real ones in its behaviour tests.
schema = schema.exclude(operation_id="assetContent")
if kit.config.live:
    # Every accepted generation spends creative units: the live run tests them through the
    # budgeted behaviour tests instead.
    for operation_id in SPENDING:
        schema = schema.exclude(operation_id=operation_id)


@schema.parametrize()
def test_operation_conforms(case: Case[Any]) -> None:
    # ignored_auth re-sends past the kit's client; the kit checks authentication itself. No
    # schema can say that base64 bytes are an image, so an upload of valid base64 that is not
    # one is refused though the schema admits it.
    excluded: list[Any] = [ignored_auth]
    if case.operation.definition.raw.get("operationId") == "uploadAsset":
        excluded.append(positive_data_acceptance)
    kit.run_case(case, excluded)
