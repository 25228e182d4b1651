"""Findings: each way an endpoint differs from the spec, classed as breaking or additive."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ideogram_mock.server.spec import Spec, Violation

BREAKING = "breaking"
ADDITIVE = "additive"


@dataclass(frozen=True)
class Finding:
    """One difference between what the endpoint did and what the spec says."""

    severity: str  # breaking | additive
    category: str  # missing-field, renamed-field, type-change, new-value, new-field, ...
    where: str  # operation and field, e.g. "getTaskRecord data.state"
    message: str
    request: str  # the request that showed it (method, URL, body excerpt)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.severity, self.category, self.where, self.message)


class Findings:
    """Every finding of a run, once each (the first request that showed it is kept)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str, str], Finding] = {}
        self._lock = threading.Lock()

    def add(self, finding: Finding) -> Finding:
        with self._lock:
            return self._items.setdefault(finding.key, finding)

    def extend(self, findings: list[Finding]) -> None:
        for finding in findings:
            self.add(finding)

    def __iter__(self) -> Iterator[Finding]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def breaking(self) -> list[Finding]:
        return [f for f in self if f.severity == BREAKING]

    def additive(self) -> list[Finding]:
        return [f for f in self if f.severity == ADDITIVE]

    def dump(self) -> str:
        return json.dumps([asdict(f) for f in self], indent=2)

    @staticmethod
    def load(text: str) -> list[Finding]:
        return [Finding(**item) for item in json.loads(text)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


class Differ:
    """Compares JSON instances with schemas of a spec and names each difference."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def branch(self, schema: Any, instance: Any) -> Any:
        """The schema `instance` is meant to be: through $refs, and for oneOf/anyOf the branch
        whose `code` const matches (envelopes), else the one it breaks least."""
        schema = self.spec.resolve(schema)
        while isinstance(schema, dict) and ("oneOf" in schema or "anyOf" in schema):
            branches: list[Any] = schema.get("oneOf") or schema.get("anyOf") or []
            options = [self.spec.resolve(s) for s in branches]
            code = instance.get("code") if isinstance(instance, dict) else None
            matching = [
                o for o in options if o.get("properties", {}).get("code", {}).get("const") == code
            ]
            if code is not None and matching:
                schema = matching[0]
                continue
            schema = min(options, key=lambda o: len(self.spec.check_schema(o).violations(instance)))
        return schema

    def declared(self, schema: Any, instance: Any) -> tuple[Mapping[str, Any], bool]:
        """The properties a schema declares for an object, and whether it declares any."""
        schema = self.branch(schema, instance)
        props: dict[str, Any] = {}
        found = False
        for part in [schema, *[self.spec.resolve(s) for s in schema.get("allOf", [])]]:
            part = self.branch(part, instance)
            if "properties" in part:
                props.update(part["properties"])
                found = True
        return props, found

    def undocumented(self, schema: Any, instance: Any, path: str = "") -> list[str]:
        """Fields present in `instance` that the schema does not declare (dotted paths)."""
        out: list[str] = []
        if isinstance(instance, dict):
            props, found = self.declared(schema, instance)
            if not found:
                return out
            for key, value in instance.items():
                where = f"{path}.{key}" if path else key
                if key not in props:
                    out.append(where)
                else:
                    out.extend(self.undocumented(props[key], value, where))
        elif isinstance(instance, list):
            items = self.branch(schema, instance).get("items")
            if items is not None:
                for i, value in enumerate(instance[:5]):
                    out.extend(self.undocumented(items, value, f"{path}[{i}]"))
        return out

    def diff(self, schema: Any, instance: Any, where: str, request: str) -> list[Finding]:
        """Findings for an instance against the schema it should follow."""
        target = self.branch(schema, instance)
        violations = self.spec.check_schema(target).violations(instance)
        new_fields = self.undocumented(target, instance)
        findings: list[Finding] = []
        missing = [v for v in violations if v.rule == "required"]
        renamed: set[str] = set()
        for v in missing:
            parent = v.field.rpartition(".")[0]
            siblings = [f for f in new_fields if f.rpartition(".")[0] == parent]
            if siblings:
                new = siblings[0]
                renamed.add(new)
                findings.append(
                    Finding(
                        BREAKING, "renamed-field", f"{where} {v.field}",
                        f"{v.field} is missing and {new} is new: renamed {v.field} → {new}?",
                        request,
                    )
                )  # fmt: skip
            else:
                findings.append(
                    Finding(BREAKING, "missing-field", f"{where} {v.field}", v.message, request)
                )
        for v in violations:
            if v.rule != "required":
                findings.append(self._classify(v, where, request))
        for field in new_fields:
            if field not in renamed:
                findings.append(
                    Finding(
                        ADDITIVE, "new-field", f"{where} {field}",
                        f"{field} is not in the spec", request,
                    )
                )  # fmt: skip
        return findings

    def _classify(self, v: Violation, where: str, request: str) -> Finding:
        at = f"{where} {v.field}".strip()
        leaf = v.field.rpartition(".")[2]
        if v.rule == "type":
            message = f"{v.field}: expected {v.message.rpartition('type ')[2]}, got "
            message += f"{_json_type(v.value)} {_short(v.value)}"
            return Finding(BREAKING, "type-change", at, message, request)
        if v.rule in ("enum", "const"):
            label = {"state": "state", "code": "envelope code"}.get(leaf, "value")
            message = f"new {label} {_short(v.value)} at {v.field or 'body'} ({v.message})"
            return Finding(BREAKING, "new-value", at, message, request)
        return Finding(BREAKING, f"schema-{v.rule}", at, v.message, request)
