"""Rules that script the fake: request faults and task outcomes, consumed in order."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ideogram_mock.core.dialect import Wording
from ideogram_mock.core.errors import InvalidInput, RuleNotFound
from ideogram_mock.core.numbers import ascii_int
from ideogram_mock.core.tasks import Failure
from ideogram_mock.stores.base import UNCHANGED, Store

R = TypeVar("R")

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


KIND, BOOK = "rules", "book"


def _stored(rule: Rule) -> dict[str, Any]:
    out = dataclasses.asdict(rule)
    out["failure"] = None if rule.failure is None else [rule.failure.code, rule.failure.msg]
    return out


def _loaded(value: Mapping[str, Any]) -> Rule:
    fields = dict(value)
    failure = fields.pop("failure")
    return Rule(failure=None if failure is None else Failure(*failure), **fields)


class RuleBook:
    """Rules in the order added; the first matching one with uses left applies. The book is
    one document in the store (the rules and the maintenance switch), changed atomically:
    a rule meant for one use is used once even when several processes take rules."""

    def __init__(self, store: Store, wordings: Mapping[str, Wording]) -> None:
        self.store = store
        self.wordings = wordings

    def _book(self) -> dict[str, Any]:
        return self.store.read(KIND, BOOK) or {"maintenance": False, "rules": []}

    def _change(self, change: Callable[[dict[str, Any]], tuple[dict[str, Any], R]]) -> R:
        def apply(value: Any) -> tuple[Any, R]:
            book = value or {"maintenance": False, "rules": []}
            return change(book)

        return self.store.update(KIND, BOOK, apply)

    @property
    def maintenance(self) -> bool:
        return bool(self._book()["maintenance"])

    @maintenance.setter
    def maintenance(self, enabled: bool) -> None:
        self._change(lambda book: ({**book, "maintenance": enabled}, None))

    def add(self, body: Mapping[str, Any]) -> Rule:
        # Rule ids come from a counter: a durable store never hands one out twice.
        rule = rule_from_json("", body, self.wordings)
        rule.id = f"rule-{self.store.next_number('rule-ids')}"

        def change(book: dict[str, Any]) -> tuple[dict[str, Any], Rule]:
            return {**book, "rules": [*book["rules"], _stored(rule)]}, rule

        return self._change(change)

    def explain(self, body: Mapping[str, Any]) -> None:
        """Raise the InvalidInput that says what is wrong with a rule's body (if it can)."""
        if isinstance(body, Mapping):
            rule_from_json("", body, self.wordings)

    def all(self) -> list[Rule]:
        return [_loaded(r) for r in self._book()["rules"]]

    def delete(self, rule_id: str) -> None:
        """Remove a rule, or raise RuleNotFound."""

        def change(book: dict[str, Any]) -> tuple[dict[str, Any], None]:
            kept = [r for r in book["rules"] if r["id"] != rule_id]
            if len(kept) == len(book["rules"]):
                raise RuleNotFound(f"no rule {rule_id}", "ruleId")
            return {**book, "rules": kept}, None

        self._change(change)

    def forget(self, api_key: str) -> None:
        """Drop the rules scoped to one key."""
        self._change(
            lambda book: (
                {**book, "rules": [r for r in book["rules"] if r["api_key"] != api_key]},
                None,
            )
        )

    def clear(self) -> int:
        return self._change(lambda book: ({**book, "rules": []}, len(book["rules"])))

    def _take(
        self, kinds: tuple[str, ...], endpoint: str | None, provider: str, *match: str | None
    ) -> Rule | None:
        def change(book: dict[str, Any]) -> tuple[Any, Rule | None]:
            stored = book["rules"]
            for i, value in enumerate(stored):
                rule = _loaded(value)
                if rule.kind not in kinds:
                    continue
                if endpoint is not None and rule.endpoint not in (endpoint, "*"):
                    continue
                if rule.matches(provider, *match):
                    rule.used += 1
                    rest = stored[:i] + stored[i + 1 :]
                    if rule.times is None or rule.used < rule.times:
                        rest.insert(i, _stored(rule))
                    return {**book, "rules": rest}, rule
            return UNCHANGED, None

        return self._change(change)

    def state(self) -> tuple[bool, bool]:
        """Whether maintenance is on, and whether there are rules (one read of the book)."""
        book = self.store.read(KIND, BOOK)
        if book is None:
            return False, False
        return bool(book["maintenance"]), bool(book["rules"])

    def _any(self) -> bool:
        book = self.store.read(KIND, BOOK)
        return book is not None and bool(book["rules"])

    def take_fault(
        self,
        provider: str,
        endpoint: str,
        api_key: str | None,
        model: str | None,
        prompt: str | None,
    ) -> Rule | None:
        """The request fault for this request, used once; None when there is none."""
        if not self._any():
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
        if not self._any():
            return None
        return self._take(("outcome",), None, provider, api_key, model, prompt)


@dataclass(frozen=True)
class Triggers:
    """What a prompt's in-band `[mock:…]` tokens ask for."""

    failure: Failure | None = None
    code: int | None = None
    seconds: float | None = None


_NO_TRIGGERS = Triggers()  # (frozen: one serves every prompt without a token)


def triggers_in(prompt: str | None, wording: Wording) -> Triggers:
    """What the `[mock:…]` tokens of a prompt ask for, in the provider's words."""
    if not prompt or "[mock:" not in prompt:
        return _NO_TRIGGERS
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
