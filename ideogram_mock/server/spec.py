"""The OpenAPI documents, loaded once, with validators compiled from them."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import marshal
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import yaml

UPSTREAM = "kie-jobs.yaml"
CONTROL = "mock-control.yaml"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_VALUE_SHOWN = 60
# When several rules break at one field, the first of these says most to a person.
_RULE_ORDER = {r: i for i, r in enumerate(("type", "required", "additionalProperties", "format"))}


def spec_path(name: str) -> Path:
    """Where a spec file is: inside an installed wheel, or in the source tree's `openapi/`."""
    packaged = Path(__file__).resolve().parents[1] / "_openapi" / name
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "openapi" / name


@dataclass(frozen=True)
class Violation:
    """One way an instance breaks its schema: the field (dotted path) and the JSON Schema rule."""

    field: str
    rule: str
    message: str
    value: Any = None


@dataclass(frozen=True)
class Rejection:
    """A request the spec refuses, with the envelope code and msg to answer it with."""

    code: int
    msg: str
    field: str = ""
    rule: str = ""


def _field(prefix: str, path: Iterable[str | int]) -> str:
    out = prefix
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 1] + "…"


def _describe(error: Any, prefix: str) -> Violation:
    kind = error.kind
    rule = str(kind.name)
    where = _field(prefix, error.instance_path)
    subject = where or "body"
    if rule == "required":
        field = _field(where, [kind.property])
        return Violation(field, rule, f"{field} is required")
    if rule in ("additionalProperties", "unevaluatedProperties"):
        names = [str(n) for n in kind.unexpected]
        field = _field(where, [names[0]])
        return Violation(field, rule, f"{field} is not allowed here")
    if rule == "enum":
        options = ", ".join(_show(o) for o in kind.options)
        return Violation(where, rule, f"{subject} must be one of {options}")
    if rule == "const":
        return Violation(where, rule, f"{subject} must be {_show(kind.expected_value)}")
    if rule == "type":
        types = " or ".join(str(t) for t in kind.types)
        return Violation(where, rule, f"{subject} must be of type {types}")
    if rule in ("maxLength", "minLength"):
        bound = "at most" if rule == "maxLength" else "at least"
        return Violation(where, rule, f"{subject} must be {bound} {kind.limit} characters")
    if rule in ("maxItems", "minItems"):
        bound = "at most" if rule == "maxItems" else "at least"
        return Violation(where, rule, f"{subject} must have {bound} {kind.limit} items")
    if rule in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
        words = {
            "maximum": "at most",
            "minimum": "at least",
            "exclusiveMaximum": "less than",
            "exclusiveMinimum": "greater than",
        }
        return Violation(where, rule, f"{subject} must be {words[rule]} {kind.limit}")
    if rule == "multipleOf":
        return Violation(where, rule, f"{subject} must be a multiple of {kind.multiple_of}")
    if rule == "format":
        return Violation(where, rule, f"{subject} must be a valid {kind.format}")
    if rule == "pattern":
        return Violation(where, rule, f"{subject} must match {kind.pattern}")
    text = str(error.message)
    if len(text) > 200:
        text = text[:199] + "…"
    return Violation(where, rule, f"{subject}: {text}")


class SchemaCheck:
    """A JSON Schema 2020-12 validator for one pointer of an OpenAPI 3.1 document, compiled
    when first used (a server compiles only what it checks: start-up does not wait for the
    response schemas that only the tests and the kit check)."""

    def __init__(self, document: Mapping[str, Any], pointer: str) -> None:
        self.pointer = pointer
        self._document = document
        self._compiled: Any = None

    def compiled(self) -> Any:
        """The validator (compiled now if not yet); a schema that cannot compile raises here,
        never inside a check, where it would read as a refused instance."""
        compiled = self._compiled
        if compiled is None:
            # The whole document is the root, so every `#/components/...` reference resolves.
            root = {**self._document, "$ref": self.pointer}
            compiled = self._compiled = jsonschema_rs.Draft202012Validator(
                root, validate_formats=True
            )
        return compiled

    def is_valid(self, instance: Any) -> bool:
        validator = self.compiled()
        try:
            return bool(validator.is_valid(instance))
        except ValueError:  # jsonschema-rs: "Recursion limit reached" on deep nesting
            return False

    def violations(self, instance: Any, prefix: str = "") -> list[Violation]:
        validator = self.compiled()
        try:
            found = [
                dataclasses.replace(_describe(e, prefix), value=e.instance)
                for e in validator.iter_errors(instance)
            ]
        except ValueError:
            subject = prefix or "body"
            return [Violation(prefix, "depth", f"{subject} is nested too deeply to check")]
        # The deepest field first: "input.num_images" says more than "input".
        found.sort(
            key=lambda v: (
                -v.field.count(".") - v.field.count("["),
                v.field,
                _RULE_ORDER.get(v.rule, len(_RULE_ORDER)),
            )
        )
        return found


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    check: SchemaCheck
    kind: str
    missing: Rejection


@dataclass(frozen=True)
class Body:
    """A request body's rules: one schema, or a discriminator over several."""

    required: bool
    check: SchemaCheck | None
    discriminator: str | None
    by_value: Mapping[str, SchemaCheck]
    unknown: Rejection | None
    invalid_code: int

    def reject(self, body: Any) -> Rejection | None:
        """Why this body is refused, or None when it is acceptable."""
        check = self.check
        if self.discriminator is not None:
            if not isinstance(body, dict):
                return Rejection(self.invalid_code, "body must be a JSON object", "", "type")
            value = body.get(self.discriminator)
            if value is None:
                name = self.discriminator
                return Rejection(self.invalid_code, f"{name} is required", name, "required")
            if not isinstance(value, str) or value not in self.by_value:
                if self.unknown is not None and isinstance(value, str):
                    return self.unknown
                name = self.discriminator
                choices = ", ".join(repr(v) for v in self.by_value)
                msg = f"{name} must be one of {choices}"
                return Rejection(self.invalid_code, msg, name, "enum")
            check = self.by_value[value]
        if check is None or check.is_valid(body):
            return None
        first = check.violations(body)[0]
        return Rejection(self.invalid_code, first.message, first.field, first.rule)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]
    body: Body | None
    responses: Mapping[str, Mapping[str, SchemaCheck | None]]

    def reject_query(self, query: Mapping[str, str]) -> Rejection | None:
        """Why these query parameters are refused, or None."""
        for param in self.parameters:
            if param.location != "query":
                continue
            raw = query.get(param.name)
            # An empty string is a missing string; for a number or a boolean it is wrong.
            if raw is None or (raw == "" and param.kind == "string"):
                if param.required:
                    return param.missing
                continue
            value = _coerce(raw, param.kind)
            if not param.check.is_valid(value):
                v = param.check.violations(value, param.name)[0]
                return Rejection(param.missing.code, v.message, v.field, v.rule)
        return None


def _coerce(raw: str, kind: str) -> Any:
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


class Spec:
    """An OpenAPI 3.1 document with its operations compiled for requests and responses."""

    def __init__(self, document: Mapping[str, Any], name: str = "") -> None:
        self.document = document
        self.name = name
        self._checks: dict[str, SchemaCheck] = {}
        self.operations: dict[str, Operation] = {
            op.operation_id: op for op in self._compile_operations()
        }

    def check(self, pointer: str) -> SchemaCheck:
        """The validator for a pointer such as `#/components/schemas/TaskRecord` (cached)."""
        found = self._checks.get(pointer)
        if found is None:
            found = self._checks[pointer] = SchemaCheck(self.document, pointer)
        return found

    def resolve(self, node: Any) -> Any:
        """Follow `$ref`s (document-local) until a node that is not one."""
        while isinstance(node, dict) and "$ref" in node:
            node = self.at(node["$ref"])
        return node

    def at(self, pointer: str) -> Any:
        node: Any = self.document
        for raw in pointer.removeprefix("#/").split("/"):
            node = node[raw.replace("~1", "/").replace("~0", "~")]
        return node

    def _compile_operations(self) -> Iterator[Operation]:
        for path, item in self.document.get("paths", {}).items():
            for method in HTTP_METHODS:
                op = item.get(method)
                if op is None:
                    continue
                params = [*item.get("parameters", []), *op.get("parameters", [])]
                yield Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    parameters=tuple(self._parameter(p) for p in params),
                    body=self._body(op.get("requestBody")),
                    responses=self._responses(op.get("responses", {})),
                )

    def _parameter(self, raw: Any) -> Parameter:
        param = self.resolve(raw)
        schema = self.resolve(param.get("schema", {}))
        missing = param.get("x-fake-missing", {})
        name = param["name"]
        default_msg = f"{name} parameter is required"
        return Parameter(
            name=name,
            location=param["in"],
            required=bool(param.get("required", False)),
            check=self._inline_check(param.get("schema", {})),
            kind=str(schema.get("type", "string")),
            missing=Rejection(missing.get("code", 400), missing.get("msg", default_msg), name),
        )

    def check_schema(self, schema: Any) -> SchemaCheck:
        """The validator for a schema object taken from this document (cached)."""
        return self._inline_check(schema)

    def _inline_check(self, schema: Any) -> SchemaCheck:
        if isinstance(schema, dict) and set(schema) == {"$ref"}:
            return self.check(schema["$ref"])
        key = "#/x-inline/" + orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
        found = self._checks.get(key)
        if found is None:
            doc = {**self.document, "x-inline-schema": schema}
            found = self._checks[key] = SchemaCheck(doc, "#/x-inline-schema")
        return found

    def _body(self, raw: Any) -> Body | None:
        if raw is None:
            return None
        body = self.resolve(raw)
        media = body.get("content", {}).get("application/json")
        if media is None:
            return None
        schema_node = media.get("schema", {})
        target = self.resolve(schema_node)
        invalid_code = int(body.get("x-fake-invalid-code", 422))
        disc = target.get("discriminator") if isinstance(target, dict) else None
        if disc is None:
            return Body(
                required=bool(body.get("required", False)),
                check=self._inline_check(schema_node),
                discriminator=None,
                by_value={},
                unknown=None,
                invalid_code=invalid_code,
            )
        unknown = disc.get("x-fake-unknown")
        return Body(
            required=bool(body.get("required", False)),
            check=None,
            discriminator=disc["propertyName"],
            by_value={value: self.check(ref) for value, ref in disc["mapping"].items()},
            unknown=Rejection(unknown["code"], unknown["msg"]) if unknown else None,
            invalid_code=invalid_code,
        )

    def _responses(self, raw: Mapping[str, Any]) -> dict[str, dict[str, SchemaCheck | None]]:
        out: dict[str, dict[str, SchemaCheck | None]] = {}
        for status, node in raw.items():
            response = self.resolve(node)
            media: dict[str, SchemaCheck | None] = {}
            for content_type, spec in response.get("content", {}).items():
                schema = spec.get("schema")
                media[content_type] = None if schema is None else self._inline_check(schema)
            out[str(status)] = media
        return out

    def operation_for(self, method: str, path: str) -> Operation | None:
        """The operation serving a concrete request path (templated paths match one segment)."""
        for op in self.operations.values():
            if op.method == method.upper() and _path_matches(op.path, path):
                return op
        return None

    def response_problems(
        self, operation_id: str, status: int, content_type: str, body: bytes
    ) -> list[str]:
        """What is wrong with a response to an operation; empty when it conforms."""
        op = self.operations[operation_id]
        media = op.responses.get(str(status)) or op.responses.get("default")
        if media is None:
            return [f"{operation_id}: HTTP {status} is not a documented response"]
        mime = content_type.split(";")[0].strip().lower()
        if mime not in media:
            if not media and not body:
                return []
            return [f"{operation_id}: HTTP {status} with {mime or 'no'} content is not documented"]
        check = media[mime]
        if check is None:
            return []
        if mime.endswith("json"):
            try:
                instance = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return [f"{operation_id}: HTTP {status} body is not JSON ({exc})"]
        else:
            instance = body.decode("utf-8", "replace")
        return [f"{operation_id}: HTTP {status}: {v.message}" for v in check.violations(instance)]


def _path_matches(template: str, path: str) -> bool:
    t_parts = template.strip("/").split("/")
    p_parts = path.strip("/").split("/")
    if len(t_parts) != len(p_parts):
        return False
    return all(
        t == p or (t.startswith("{") and t.endswith("}"))
        for t, p in zip(t_parts, p_parts, strict=True)
    )


# libyaml's safe loader when PyYAML was built with it (its wheels are): parsing the specs is
# most of start-up, and the C parser does it about ten times as fast.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _cache_dir() -> Path | None:
    """Where parsed specs are kept between runs (IDEOGRAM_MOCK_CACHE=off: nowhere)."""
    chosen = os.environ.get("IDEOGRAM_MOCK_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ideogram-mock"


def load_document(name: str) -> dict[str, Any]:
    """The YAML document of a spec file, parsed afresh; a parse is kept in the user's cache,
    named by a hash of the file's bytes (a changed spec is parsed again), and read back with
    `marshal` in a millisecond instead of the YAML parser's fifty."""
    text = spec_path(name).read_bytes()
    folder = _cache_dir()
    digest = hashlib.blake2b(
        text + sys.version.encode() + _LOADER.__name__.encode(), digest_size=16
    ).hexdigest()
    cached = None if folder is None else folder / f"{name}.{digest}.marshal"
    document: Any = None
    if cached is not None:
        try:
            document = marshal.loads(cached.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            document = None
    if not isinstance(document, dict):  # none kept, or not a document: parse
        document = yaml.load(text, Loader=_LOADER)  # a safe loader, C or Python
        if cached is not None and isinstance(document, dict):
            _keep(cached, document, name)
    if not isinstance(document, dict):
        raise ValueError(f"{name}: not an OpenAPI document")
    return document


def _keep(path: Path, document: dict[str, Any], name: str) -> None:
    """Write a parse to the cache, atomically; a cache that cannot be written is skipped."""
    try:
        data = marshal.dumps(document)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)
        for old in path.parent.glob(f"{name}.*.marshal"):
            if old != path:  # an earlier version of the same spec
                old.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


@functools.cache
def spec_words(name: str) -> bytes:
    """The words a spec's JSON bodies are made of, as JSON spells them: each property name
    with its colon (`"prompt":`) and each string an enum allows (`"BALANCED"`), once each,
    sorted. The preset dictionary a provider's stored requests are deflated against."""
    words: dict[str, None] = {}
    stack: list[Any] = [load_spec(name).document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                words.update((orjson.dumps(str(k)).decode() + ":", None) for k in properties)
            enum = node.get("enum")
            if isinstance(enum, list):
                words.update((orjson.dumps(v).decode(), None) for v in enum if isinstance(v, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return "".join(sorted(words)).encode()


@functools.cache
def load_spec(name: str = UPSTREAM, strict: bool = False) -> Spec:
    """The compiled spec for a file in `openapi/`; compiled once per process, never mutated.
    `strict`: every schema marked `x-fake-strict` refuses fields it does not declare (the
    `--strict-fields` variant)."""
    document = load_document(name)
    return Spec(_strict(document) if strict else document, name)


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if out.get("x-fake-strict") is True:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node
