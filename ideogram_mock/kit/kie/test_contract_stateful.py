"""A stateful run that follows the spec's link from createTask's taskId to recordInfo, and
checks after each creation that the new task is readable by its creator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import Phase, settings
from schemathesis import Case
from schemathesis.core.transport import Response

from ideogram_mock.kit.findings import BREAKING, Finding
from ideogram_mock.kit.kie.bridge import judge, to_request
from ideogram_mock.kit.kie.session import session
from ideogram_mock.server.spec import UPSTREAM, spec_path

kit = session()
schema = schemathesis.openapi.from_path(str(spec_path(UPSTREAM)))
schema.config.update(base_url=kit.config.base_url)
schema.config.generation.update(with_security_parameters=False)


class KieStateMachine(schema.as_state_machine()):  # type: ignore[misc]
    def setup(self) -> None:
        self.answers: dict[str, httpx.Response] = {}

    def call(self, case: Case[Any], **kwargs: Any) -> Response:
        response = kit.send(to_request(kit, case), check=False)
        self.answers[case.id] = response
        return Response.from_httpx(response, verify=True)

    def validate_response(self, response: Response, case: Case[Any], **kwargs: Any) -> None:
        answer = self.answers.pop(case.id)
        judge(kit, case, answer)
        body = answer.json()
        if answer.request.url.path.endswith("/createTask") and body.get("code") == 200:
            task_id = body["data"]["taskId"]
            readable = kit.readable(task_id).json()
            if readable.get("code") != 200:
                message = f"task {task_id} was created but reads as {readable}"
                kit.findings.add(
                    Finding(BREAKING, "forgotten-task", "getTaskRecord", message, task_id)
                )
                raise AssertionError(message)


TestStateful = KieStateMachine.TestCase
TestStateful.settings = settings(
    max_examples=max(3, kit.config.max_examples // 2),
    stateful_step_count=6,
    deadline=None,
    phases=[Phase.generate],
)
if kit.config.live:
    TestStateful = pytest.mark.skip(reason="the stateful run creates tasks freely")(TestStateful)
