"""Rules that script the fake: request faults and task outcomes, consumed in order."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ideogram_mock.core.dialect import Wording
from ideogram_mock.core.errors import InvalidInput, RuleNotFound
from ideogram_mock.core.numbers import ascii_int
from ideogram_mock.core.tasks import Failure

KINDS = ("code", "latency", "drop", "gateway")
# In-band triggers for clients that cannot reach the control API, written in the prompt:
#   [mock:fail]  [mock:fail=422]  [mock:code=429]  [mock:seconds=3]
TRIGGER = re.compile(r"\[mock:(fail|code|seconds)(?:=([^\]]{1,64}))?\]")


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
    # Whether the rule gave failMsg (else each provider's own wording for the code applies).
    custom_msg: bool = False
    duration_s: float | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    times: int | None = 1
    used: int = 0
    provider: str | None = None
    api_key: str | None = None
    model: str | None = None
    prompt_contains: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else self.times - self.used

    def matches(
        self, provider: str, api_key: str | None, model: str | None, prompt: str | None
    ) -> bool:
        if self.provider is not None and provider != self.provider:
            return False
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
                out["code"] = self.code
                if self.msg is not None:
                    out["msg"] = self.msg
            if self.kind == "latency":
                out["latencyMs"], out["jitterMs"] = self.latency_ms, self.jitter_ms
        for key, value in (
            ("provider", self.provider),
            ("apiKey", self.api_key),
            ("model", self.model),
            ("promptContains", self.prompt_contains),
        ):
            if value is not None:
                out[key] = value
        return out


def rule_from_json(rule_id: str, body: Mapping[str, Any], wordings: Mapping[str, Wording]) -> Rule:
    """A rule from the control API's (already schema-checked) body; cross-field checks here,
    against the words of the provider it names (or of every provider served)."""
    provider = body.get("provider")
    if provider is not None and provider not in wordings:
        raise InvalidInput(f"provider must be one of {sorted(wordings)}", "provider")
    named = [wordings[provider]] if provider is not None else list(wordings.values())
    common: dict[str, Any] = {
        "id": rule_id,
        "times": body.get("times", 1),
        "provider": provider,
        "api_key": body.get("apiKey"),
        "model": body.get("model"),
        "prompt_contains": body.get("promptContains"),
    }
    if "outcome" in body:
        if "endpoint" in body or "code" in body:
            raise InvalidInput("give either outcome or endpoint, not both", "outcome")
        outcome = body["outcome"]
        failure = None
        if outcome == "fail":
            code = body.get("failCode")
            failure = named[0].failure(None if code is None else str(code), body.get("failMsg"))
        elif "failCode" in body or "failMsg" in body:
            raise InvalidInput("failCode and failMsg go with outcome fail", "failCode")
        return Rule(
            kind="outcome",
            outcome=outcome,
            failure=failure,
            custom_msg="failMsg" in body,
            duration_s=body.get("durationSeconds"),
            **common,
        )
    if "endpoint" not in body:
        raise InvalidInput("a rule needs outcome or endpoint", "endpoint")
    endpoint = body["endpoint"]
    known = set().union(*(w.endpoints for w in named))
    if endpoint != "*" and known and endpoint not in known:
        names = ", ".join(sorted(known))
        raise InvalidInput(f"endpoint must be one of {names} or '*'", "endpoint")
    if provider is None and endpoint != "*":
        # An endpoint of one provider: that provider's codes apply.
        named = [w for w in named if endpoint in w.endpoints] or named
    kind = body.get("kind", "code")
    code = body.get("code")
    if kind == "code":
        if code is None:
            raise InvalidInput("a code fault needs code", "code")
        allowed = sorted(set.intersection(*(set(w.error_codes) for w in named)))
        if code not in allowed:
            raise InvalidInput(f"code must be one of {allowed}", "code")
    elif code is not None:
        raise InvalidInput(f"code goes with kind code, not {kind}", "code")
    return Rule(
        kind=kind,
        endpoint=body["endpoint"],
        code=code,
        # Without msg, each provider answers in its own words for the code.
        msg=body.get("msg"),
        latency_ms=float(body.get("latencyMs", 0.0)),
        jitter_ms=float(body.get("jitterMs", 0.0)),
        **common,
    )


class RuleBook:
    """Rules in the order added; the first matching one with uses left applies."""

    def __init__(self, wordings: Mapping[str, Wording]) -> None:
        self.wordings = wordings
        self._rules: list[Rule] = []
        self._next_id = 0
        self.maintenance = False

    def reset(self) -> None:
        self._rules.clear()
        self.maintenance = False

    def add(self, body: Mapping[str, Any]) -> Rule:
        self._next_id += 1
        rule = rule_from_json(f"rule-{self._next_id}", body, self.wordings)
        self._rules.append(rule)
        return rule

    def all(self) -> list[Rule]:
        return list(self._rules)

    def delete(self, rule_id: str) -> None:
        """Remove a rule, or raise RuleNotFound."""
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        if len(self._rules) == before:
            raise RuleNotFound(f"no rule {rule_id}", "ruleId")

    def forget(self, api_key: str) -> None:
        """Drop the rules scoped to one key."""
        self._rules = [r for r in self._rules if r.api_key != api_key]

    def clear(self) -> int:
        removed = len(self._rules)
        self._rules.clear()
        return removed

    def _take(
        self, kinds: tuple[str, ...], endpoint: str | None, provider: str, *match: str | None
    ) -> Rule | None:
        for rule in self._rules:
            if rule.kind not in kinds:
                continue
            if endpoint is not None and rule.endpoint not in (endpoint, "*"):
                continue
            if rule.matches(provider, *match):
                rule.used += 1
                if rule.times is not None and rule.used >= rule.times:
                    self._rules.remove(rule)
                return rule
        return None

    def take_fault(
        self,
        provider: str,
        endpoint: str,
        api_key: str | None,
        model: str | None,
        prompt: str | None,
    ) -> Rule | None:
        """The request fault for this request, used once; None when there is none."""
        if not self._rules:
            return None
        return self._take(KINDS, endpoint, provider, api_key, model, prompt)

    def failure_of(self, rule: Rule, wording: Wording) -> Failure | None:
        """A fail rule's failure in the words of the provider whose task it fails."""
        if rule.failure is None or rule.custom_msg:
            return rule.failure
        return wording.failure(rule.failure.code)

    def take_outcome(
        self, provider: str, api_key: str | None, model: str | None, prompt: str | None
    ) -> Rule | None:
        """The outcome rule for a new task, used once; None means the default success."""
        if not self._rules:
            return None
        return self._take(("outcome",), None, provider, api_key, model, prompt)


@dataclass(frozen=True)
class Triggers:
    """What a prompt's in-band `[mock:…]` tokens ask for."""

    failure: Failure | None = None
    code: int | None = None
    seconds: float | None = None


def triggers_in(prompt: str | None, wording: Wording) -> Triggers:
    """What the `[mock:…]` tokens of a prompt ask for, in the provider's words."""
    if not prompt or "[mock:" not in prompt:
        return Triggers()
    failure, code, seconds = None, None, None
    for name, value in TRIGGER.findall(prompt):
        if name == "fail":
            failure = wording.failure(value or None)
        elif name == "code" and ascii_int(value) in wording.error_codes:
            code = ascii_int(value)
        elif name == "seconds":
            try:
                number = float(value)
            except ValueError:
                continue
            if math.isfinite(number):
                seconds = min(max(number, 0.0), 86_400.0)
    return Triggers(failure, code, seconds)
