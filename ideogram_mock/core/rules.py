"""Rules that script the fake: request faults and task outcomes, consumed in order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ideogram_mock.core.errors import ERROR_CODES, MEDIA_UNAVAILABLE, MESSAGES, ControlError
from ideogram_mock.core.tasks import Failure

ENDPOINTS = ("createTask", "recordInfo", "credit", "downloadUrl", "*")
KINDS = ("code", "latency", "drop", "gateway")
# Known failCode texts; any other code fails with "Generation failed".
FAIL_MESSAGES = {"422": MEDIA_UNAVAILABLE, "500": "Internal server error"}
# In-band triggers for clients that cannot reach the control API, written in the prompt:
#   [mock:fail]  [mock:fail=422]  [mock:code=429]  [mock:seconds=3]
TRIGGER = re.compile(r"\[mock:(fail|code|seconds)(?:=([^\]]{1,64}))?\]")


def failure_for(code: str, msg: str | None = None) -> Failure:
    return Failure(code, msg if msg is not None else FAIL_MESSAGES.get(code, "Generation failed"))


@dataclass
class Rule:
    """One rule; `times=None` applies forever, otherwise it is used up."""

    id: str
    kind: str
    endpoint: str | None = None
    code: int | None = None
    msg: str | None = None
    outcome: str | None = None
    failure: Failure | None = None
    duration_s: float | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    times: int | None = 1
    used: int = 0
    api_key: str | None = None
    model: str | None = None
    prompt_contains: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else self.times - self.used

    def matches(self, api_key: str | None, model: str | None, prompt: str | None) -> bool:
        if self.api_key is not None and api_key != self.api_key:
            return False
        if self.model is not None and model != self.model:
            return False
        return self.prompt_contains is None or (
            prompt is not None and self.prompt_contains in prompt
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "remaining": self.remaining, "used": self.used}
        out["times"] = self.times
        if self.outcome is not None:
            out["outcome"] = self.outcome
            if self.failure is not None:
                out["failCode"], out["failMsg"] = self.failure.code, self.failure.msg
            if self.duration_s is not None:
                out["durationSeconds"] = self.duration_s
        else:
            out["endpoint"], out["kind"] = self.endpoint, self.kind
            if self.kind == "code":
                out["code"], out["msg"] = self.code, self.msg
            if self.kind == "latency":
                out["latencyMs"], out["jitterMs"] = self.latency_ms, self.jitter_ms
        for key, value in (
            ("apiKey", self.api_key),
            ("model", self.model),
            ("promptContains", self.prompt_contains),
        ):
            if value is not None:
                out[key] = value
        return out


def rule_from_json(rule_id: str, body: Mapping[str, Any]) -> Rule:
    """A rule from the control API's (already schema-checked) body; cross-field checks here."""
    common: dict[str, Any] = {
        "id": rule_id,
        "times": body.get("times", 1),
        "api_key": body.get("apiKey"),
        "model": body.get("model"),
        "prompt_contains": body.get("promptContains"),
    }
    if "outcome" in body:
        if "endpoint" in body or "code" in body:
            raise ControlError(422, "give either outcome or endpoint, not both", "outcome")
        outcome = body["outcome"]
        failure = None
        if outcome == "fail":
            failure = failure_for(str(body.get("failCode", "500")), body.get("failMsg"))
        elif "failCode" in body or "failMsg" in body:
            raise ControlError(422, "failCode and failMsg go with outcome fail", "failCode")
        return Rule(
            kind="outcome",
            outcome=outcome,
            failure=failure,
            duration_s=body.get("durationSeconds"),
            **common,
        )
    if "endpoint" not in body:
        raise ControlError(422, "a rule needs outcome or endpoint", "endpoint")
    kind = body.get("kind", "code")
    code = body.get("code")
    if kind == "code":
        if code is None:
            raise ControlError(422, "a code fault needs code", "code")
        if code not in ERROR_CODES:
            raise ControlError(422, f"code must be one of {sorted(ERROR_CODES)}", "code")
    elif code is not None:
        raise ControlError(422, f"code goes with kind code, not {kind}", "code")
    return Rule(
        kind=kind,
        endpoint=body["endpoint"],
        code=code,
        msg=body.get("msg", MESSAGES.get(code, "")) if code is not None else None,
        latency_ms=float(body.get("latencyMs", 0.0)),
        jitter_ms=float(body.get("jitterMs", 0.0)),
        **common,
    )


class RuleBook:
    """Rules in the order added; the first matching one with uses left applies."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._next_id = 0
        self.maintenance = False

    def reset(self) -> None:
        self._rules.clear()
        self.maintenance = False

    def add(self, body: Mapping[str, Any]) -> Rule:
        self._next_id += 1
        rule = rule_from_json(f"rule-{self._next_id}", body)
        self._rules.append(rule)
        return rule

    def all(self) -> list[Rule]:
        return list(self._rules)

    def delete(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> int:
        removed = len(self._rules)
        self._rules.clear()
        return removed

    def _take(
        self, kinds: tuple[str, ...], endpoint: str | None, *match: str | None
    ) -> Rule | None:
        for rule in self._rules:
            if rule.kind not in kinds:
                continue
            if endpoint is not None and rule.endpoint not in (endpoint, "*"):
                continue
            if rule.matches(*match):
                rule.used += 1
                if rule.times is not None and rule.used >= rule.times:
                    self._rules.remove(rule)
                return rule
        return None

    def take_fault(
        self, endpoint: str, api_key: str | None, model: str | None, prompt: str | None
    ) -> Rule | None:
        """The request fault for this request, used once; None when there is none."""
        if not self._rules:
            return None
        return self._take(KINDS, endpoint, api_key, model, prompt)

    def take_outcome(
        self, api_key: str | None, model: str | None, prompt: str | None
    ) -> Rule | None:
        """The outcome rule for a new task, used once; None means the default success."""
        if not self._rules:
            return None
        return self._take(("outcome",), None, api_key, model, prompt)


@dataclass(frozen=True)
class Triggers:
    """What a prompt's in-band `[mock:…]` tokens ask for."""

    failure: Failure | None = None
    code: int | None = None
    seconds: float | None = None


def triggers_in(prompt: str | None) -> Triggers:
    if not prompt or "[mock:" not in prompt:
        return Triggers()
    failure, code, seconds = None, None, None
    for name, value in TRIGGER.findall(prompt):
        if name == "fail":
            failure = failure_for(value or "500")
        elif name == "code" and value.isdigit() and int(value) in ERROR_CODES:
            code = int(value)
        elif name == "seconds":
            try:
                seconds = min(max(float(value), 0.0), 86_400.0)
            except ValueError:
                continue
    return Triggers(failure, code, seconds)
