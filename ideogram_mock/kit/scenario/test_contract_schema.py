"""Schemathesis over every Scenario operation: examples, coverage and fuzzing phases, positive
and negative data, every answer checked by its built-in checks and the kit's own."""

from __future__ import annotations

from typing import Any

from schemathesis import Case
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from ideogram_mock.kit.cases import schema_for
from ideogram_mock.kit.scenario.session import SPEC, SPENDING, session

kit = session()
# The asset links are signed: generated ones are refused by design (403), and the kit follows
# real ones in its behaviour tests.
schema = schema_for(kit, SPEC, SPENDING).exclude(operation_id="assetContent")


@schema.parametrize()
def test_operation_conforms(case: Case[Any]) -> None:
    # ignored_auth re-sends past the kit's client; the kit checks authentication itself. No
    # schema can say that base64 bytes are an image, so an upload of valid base64 that is not
    # one is refused though the schema admits it.
    excluded: list[Any] = [ignored_auth]
    if case.operation.definition.raw.get("operationId") == "uploadAsset":
        excluded.append(positive_data_acceptance)
    kit.run_case(case, excluded)
