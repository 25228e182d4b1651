"""The kit's judgement, unit by unit: how differences are classed, what the tracker flags, and
what the reports say."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ideogram_mock.kit.drift import junit, markdown
from ideogram_mock.kit.findings import ADDITIVE, BREAKING, Differ, Finding, Findings
from ideogram_mock.kit.kie.session import Tracker
from ideogram_mock.server.spec import load_spec
from tests.conftest import seed

RECORD = {"$ref": "#/components/schemas/RecordInfoOk"}
DIFFER = Differ(load_spec())


def _record() -> dict[str, Any]:
    value: dict[str, Any] = copy.deepcopy(seed("record_info_success.json"))
    return value


def _categories(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.severity, f.category) for f in findings}


def test_differ_finds_nothing_in_a_conforming_record() -> None:
    assert DIFFER.diff(RECORD, _record(), "getTaskRecord", "GET") == []


def test_differ_names_a_renamed_field() -> None:
    body = _record()
    body["data"]["task_id"] = body["data"].pop("taskId")
    (finding,) = DIFFER.diff(RECORD, body, "getTaskRecord", "GET")
    assert (finding.severity, finding.category) == (BREAKING, "renamed-field")
    assert "data.taskId" in finding.message
    assert "data.task_id" in finding.message


def test_differ_names_type_change_new_state_missing_and_new_fields() -> None:
    body = _record()
    body["data"]["createTime"] = "1755767170332"
    body["data"]["state"] = "done"
    del body["data"]["param"]
    body["data"]["extra"] = 1
    found = DIFFER.diff(RECORD, body, "getTaskRecord", "GET")
    assert _categories(found) >= {
        (BREAKING, "type-change"),
        (BREAKING, "new-value"),
        (BREAKING, "renamed-field"),
    }
    messages = " ".join(f.message for f in found)
    assert "createTime" in messages
    assert '"done"' in messages


def test_differ_calls_a_lone_new_field_additive() -> None:
    body = _record()
    body["data"]["watermark"] = False
    (finding,) = DIFFER.diff(RECORD, body, "getTaskRecord", "GET")
    assert (finding.severity, finding.category, finding.where) == (
        ADDITIVE, "new-field", "getTaskRecord data.watermark",
    )  # fmt: skip


def test_differ_picks_the_error_envelope_by_code() -> None:
    error = {"code": 422, "msg": "recordInfo is null", "data": None}
    schema = load_spec().document["paths"]["/api/v1/jobs/recordInfo"]["get"]["responses"]["200"]
    node = schema["content"]["application/json"]["schema"]
    assert DIFFER.diff(node, error, "getTaskRecord", "GET") == []
    renamed = {"code": 422, "message": "recordInfo is null", "data": None}
    (finding,) = DIFFER.diff(node, renamed, "getTaskRecord", "GET")
    assert finding.category == "renamed-field"


def _data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {**_record()["data"], **changes}
    return data


def test_tracker_flags_a_state_that_goes_backwards_and_a_terminal_change() -> None:
    tracker = Tracker()
    first = _data(state="generating", resultJson=None, response=None, costTime=None)
    assert tracker.observe(first, "w", "r") == []
    assert tracker.observe(_data(), "w", "r") == []
    back = tracker.observe(_data(state="queuing", resultJson=None), "w", "r")
    assert "state-backwards" in {f.category for f in back}
    changed = Tracker()
    changed.observe(_data(), "w", "r")
    assert "terminal-changed" in {f.category for f in changed.observe(_data(costTime=99), "w", "r")}


def test_tracker_flags_fail_fields_result_count_and_cost_time_in_ms() -> None:
    tracker = Tracker()
    assert {f.category for f in tracker.observe(_data(failCode="500"), "w", "r")} == {"fail-fields"}
    two = json.dumps({"resultUrls": ["https://a/1.png", "https://a/2.png"]})
    assert "result-count" in {f.category for f in tracker.observe(_data(resultJson=two), "w", "r")}
    ms = _data(costTime=(_data()["completeTime"] - _data()["createTime"]))
    (finding,) = Tracker().observe(ms, "w", "r")
    assert finding.category == "cost-time"
    assert "milliseconds" in finding.message


def test_tracker_checks_param_round_trip_and_notes_a_string_input() -> None:
    tracker = Tracker()
    sent = json.loads(_data()["param"])
    tracker.created[_data()["taskId"]] = sent
    assert tracker.observe(_data(), "w", "r") == []
    quirky = {**sent, "input": json.dumps(sent["input"])}
    found = Tracker(created={_data()["taskId"]: sent}).observe(
        _data(param=json.dumps(quirky)), "w", "r"
    )
    assert {(f.severity, f.category) for f in found} == {(ADDITIVE, "param-encoding")}
    other = Tracker(created={_data()["taskId"]: {**sent, "model": "x"}})
    assert {f.category for f in other.observe(_data(), "w", "r")} == {"param"}


def test_findings_keep_one_of_each_and_round_trip_as_json() -> None:
    findings = Findings()
    a = Finding(BREAKING, "type-change", "op x", "m", "GET /1")
    findings.add(a)
    findings.add(Finding(BREAKING, "type-change", "op x", "m", "GET /2"))
    findings.add(Finding(ADDITIVE, "new-field", "op y", "n", "GET /3"))
    assert len(findings) == 2
    assert Findings.load(findings.dump()) == [
        a,
        Finding(ADDITIVE, "new-field", "op y", "n", "GET /3"),
    ]


def test_reports_say_breaking_or_additive_and_junit_fails_only_breaking(tmp_path: Path) -> None:
    found = [
        Finding(
            BREAKING,
            "missing-field",
            "getTaskRecord data.param",
            "data.param is required",
            "GET /x",
        ),
        Finding(
            ADDITIVE, "new-field", "getTaskRecord data.extra", "not in the spec | really", "GET /y"
        ),
    ]
    text = markdown(found, "http://127.0.0.1:1", {"passed": 3, "failed": 1, "skipped": 0})
    assert "**BREAKING drift**: 1 breaking, 1 additive" in text
    assert "3 passed, 1 failed" in text
    assert "not in the spec \\| really" in text
    assert "additive drift only" in markdown(found[1:], "t", {})
    assert "**no drift**" in markdown([], "t", {})
    path = tmp_path / "drift.xml"
    junit(found, None).write(path, encoding="unicode")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("drift", "2", "1")


def test_drift_report_groups_by_cause_and_agrees_with_the_exit_code() -> None:
    from ideogram_mock.kit.drift import markdown
    from ideogram_mock.kit.findings import BREAKING, Finding

    same_cause = [
        Finding(BREAKING, "http-status-convention", f"op{i}", "HTTP 400 for code 400", "GET /x")
        for i in range(10)
    ]
    report = markdown(same_cause, "https://api.kie.ai", {"passed": 3, "failed": 1}, ["t — x"])
    assert "**BREAKING drift**" in report
    assert "| breaking | http-status-convention | 10 | `op0` |" in report
    failed_only = markdown([], "https://api.kie.ai", {"passed": 3, "failed": 1}, ["t — why"])
    assert "**kit tests FAILED**" in failed_only
    assert "no drift" not in failed_only


def test_drift_live_without_credentials_refuses_before_running(tmp_path: Path) -> None:
    import pytest

    from ideogram_mock.kit import drift

    with pytest.raises(SystemExit, match="needs the real endpoint and a key"):
        drift.run(None, None, tmp_path, live=True, provider="segmind")
    assert not (tmp_path / "drift.md").exists()


def test_findings_name_the_headers_that_decided_the_answer() -> None:
    import httpx

    from ideogram_mock.kit.cases import describe

    request = httpx.Request(
        "POST", "https://api.kie.ai/x", json={"a": 1}, headers={"Authorization": "Bearer sk-123"}
    )
    text = describe(request)
    assert "[content-type: application/json; authorization: Bearer ***]" in text
    assert "sk-123" not in text
