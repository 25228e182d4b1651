"""Callbacks: the kit's own receiver gets the POST when a task ends, and it matches the spec's
`callbacks` object (body and headers), signed as kie documents when a key is given."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from ideogram_mock.kit.findings import BREAKING, Finding
from ideogram_mock.kit.kie.data import body_for
from ideogram_mock.kit.kie.session import BudgetExhausted, KitSession

CALLBACK_SCHEMA = {"$ref": "#/components/schemas/CallbackBody"}


def _deliveries(kit: KitSession, task_id: str, timeout: float) -> list[tuple[dict[str, str], Any]]:
    receiver = kit.receiver()
    assert receiver is not None
    deadline = time.monotonic() + timeout
    while True:
        got = [
            (headers, json.loads(body))
            for headers, body in receiver.received()
            if json.loads(body).get("data", {}).get("taskId") == task_id
        ]
        if got or time.monotonic() > deadline:
            return got
        kit.advance(1)


@pytest.mark.parametrize("outcome", ["success", "fail"])
def test_callback_arrives_once_and_matches_the_spec(kit: KitSession, outcome: str) -> None:
    receiver = kit.receiver()
    if receiver is None:
        pytest.skip(
            "set CALLBACK_PUBLIC_URL (and CALLBACK_PORT) so the real service can reach the kit"
        )
    if outcome == "fail" and kit.config.live:
        pytest.skip("a failure cannot be ordered from the real endpoint")
    prompt = "[mock:fail=500] a knight" if outcome == "fail" else "a knight"
    body = {
        **body_for("ideogram/character", kit.config, prompt=prompt),
        "callBackUrl": receiver.url,
    }
    try:
        created = kit.request("POST", "/api/v1/jobs/createTask", json=body).json()
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    task_id = created["data"]["taskId"]
    record = kit.run_to_end(task_id)
    wait = kit.config.lifecycle_timeout_s if kit.config.live else 10
    got = _deliveries(kit, task_id, timeout=wait)
    assert len(got) == 1, f"{len(got)} callbacks for {task_id}"
    headers, payload = got[0]
    where = f"callback {outcome}"
    findings = kit.differ.diff(CALLBACK_SCHEMA, payload, where, f"POST {receiver.url}")
    findings += [
        Finding(BREAKING, "callback", where, problem, f"POST {receiver.url}")
        for problem in kit.conformance.callback_problems(payload, headers)
    ]
    kit.findings.extend(findings)
    breaking = [f for f in findings if f.severity == BREAKING]
    assert not breaking, [f.message for f in breaking]
    assert payload["data"]["state"] == record["state"]
    if kit.config.hmac_key:
        lowered = {k.lower(): v for k, v in headers.items()}
        stamp = lowered.get("x-webhook-timestamp", "")
        mac = hmac.new(kit.config.hmac_key.encode(), f"{task_id}.{stamp}".encode(), hashlib.sha256)
        assert lowered.get("x-webhook-signature") == base64.b64encode(mac.digest()).decode()
