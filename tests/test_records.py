from __future__ import annotations

import json

import orjson
import pytest

from ideogram_mock.core.tasks import Failure, Task, Timeline
from ideogram_mock.providers.kie.records import callback_body, record
from ideogram_mock.server.spec import load_spec

URLS = ["http://127.0.0.1:8000/files/t/1/ab/0.png"]


def _task(failure: Failure | None = None) -> Task:
    param = orjson.dumps({"model": "ideogram/character", "input": {"prompt": "p"}}).decode()
    return Task(
        "0123456789abcdef0123456789abcdef", "kie", "k", "ideogram/character", param, None,
        1_000_000, Timeline(1_000, 3_000, 17_000), 1, (1024, 1024), 1, 2, None, 18, failure,
        None,
    )  # fmt: skip


@pytest.mark.parametrize("now", [1_000_000, 1_001_500, 1_005_000, 1_017_000])
def test_records_every_state_validates_against_the_spec(now: int) -> None:
    data = record(_task(), now, URLS if now >= 1_017_000 else [])
    check = load_spec().check("#/components/schemas/RecordInfoOk")
    assert check.violations({"code": 200, "msg": "success", "data": data}) == []


def test_records_failed_record_carries_fail_code_and_no_result() -> None:
    data = record(_task(Failure("500", "Internal server error")), 2_000_000, [])
    assert (data["state"], data["failCode"], data["resultJson"]) == ("fail", "500", None)
    assert data["costTime"] == 17
    assert data["successFlag"] == 3


def test_records_callback_bodies_match_the_spec_callbacks() -> None:
    ok = callback_body(_task(), URLS)
    failed = callback_body(_task(Failure("422", "bad media")), [])
    check = load_spec().check("#/components/schemas/CallbackBody")
    assert check.violations(ok) == []
    assert check.violations(failed) == []
    assert json.loads(ok["data"]["resultJson"]) == {"resultUrls": URLS}
    assert failed["data"]["failMsg"] == "bad media"
