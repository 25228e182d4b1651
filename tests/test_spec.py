"""The OpenAPI contract: valid, self-consistent, and as strict as the upstream facts say."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from ideogram_mock.providers import PROVIDERS
from ideogram_mock.server.spec import CONTROL, UPSTREAM, load_document, load_spec, spec_path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "fixtures" / "seed"
CATALOGUE = json.loads((ROOT / "fixtures" / "invalid_create_bodies.json").read_text())["cases"]
SPEC_FILES = [*(p.spec for p in PROVIDERS.values()), CONTROL]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _media_examples(name: str) -> Iterator[tuple[str, str, Any]]:
    """(label, schema pointer, example value) for every example embedded in a spec."""
    spec = load_spec(name)
    doc = spec.document

    def from_media(label: str, media: dict[str, Any]) -> Iterator[Any]:
        schema = media["schema"]
        for ex_name, ex in media.get("examples", {}).items():
            yield f"{label}:{ex_name}", schema, spec.resolve(ex)["value"]
        if "example" in media:
            yield f"{label}:example", schema, media["example"]

    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                yield from from_media(f"{method} {path} request", media)
            for status, resp in op.get("responses", {}).items():
                if "$ref" in resp:
                    continue
                for media in resp.get("content", {}).values():
                    yield from from_media(f"{method} {path} {status}", media)
            for cb_name, cb in op.get("callbacks", {}).items():
                for expr, cb_item in cb.items():
                    cb_body = cb_item["post"]["requestBody"]["content"]
                    for media in cb_body.values():
                        yield from from_media(f"callback {cb_name} {expr}", media)


@pytest.mark.parametrize("name", SPEC_FILES)
def test_spec_is_valid_openapi_3_1(name: str) -> None:
    document = load_document(name)
    assert document["openapi"].startswith("3.1")
    validate(document)


def _stray_keys(node: Any, path: str = "") -> Iterator[str]:
    """Keys with a null value and a space in them: a YAML flow mapping split at a comma in an
    unquoted description ("{description: a, b}" makes a key "b")."""
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None and isinstance(key, str) and " " in key:
                yield f"{path}/{key}"
            yield from _stray_keys(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _stray_keys(value, f"{path}[{i}]")


@pytest.mark.parametrize("name", SPEC_FILES)
def test_spec_has_no_keys_split_off_an_unquoted_description(name: str) -> None:
    assert list(_stray_keys(load_document(name))) == []


@pytest.mark.parametrize("name", SPEC_FILES)
def test_spec_every_ref_resolves(name: str) -> None:
    spec = load_spec(name)
    refs = set(_refs(spec.document))
    assert refs, "a spec without $refs is not what we wrote"
    for ref in refs:
        assert ref.startswith("#/"), ref
        spec.at(ref)


@pytest.mark.parametrize(
    ("name", "schema", "value"),
    [
        pytest.param(name, schema, value, id=f"{name}:{label}")
        for name in SPEC_FILES
        for label, schema, value in _media_examples(name)
    ],
)
def test_spec_embedded_example_validates(name: str, schema: Any, value: Any) -> None:
    assert load_spec(name).check_schema(schema).violations(value) == []


def test_spec_has_examples_for_every_upstream_operation() -> None:
    labels = {label.split(" ")[1] for label, _, _ in _media_examples(UPSTREAM)}
    assert {
        "/api/v1/jobs/createTask",
        "/api/v1/jobs/recordInfo",
        "/api/v1/chat/credit",
        "/api/v1/common/download-url",
    } <= labels


SEED_SCHEMAS = {
    "create_task_character.json": "#/components/schemas/CharacterRequest",
    "create_task_edit.json": "#/components/schemas/CharacterEditRequest",
    "create_task_remix.json": "#/components/schemas/CharacterRemixRequest",
    "create_task_response.json": "#/components/schemas/CreateTaskOk",
    "record_info_success.json": "#/components/schemas/RecordInfoOk",
    "record_info_generating.json": "#/components/schemas/RecordInfoOk",
    "record_info_failed.json": "#/components/schemas/RecordInfoOk",
    "record_info_docs_shape.json": "#/components/schemas/RecordInfoOk",
    "record_info_unknown_task.json": "#/components/schemas/ErrorEnvelope",
    "callback_success.json": "#/components/schemas/CallbackSuccess",
    "callback_failure.json": "#/components/schemas/CallbackFailure",
    "credit_response.json": "#/components/schemas/CreditOk",
}


def test_fixtures_every_seed_file_has_a_schema() -> None:
    assert sorted(p.name for p in SEED.glob("*.json")) == sorted(SEED_SCHEMAS)


@pytest.mark.parametrize(("name", "pointer"), sorted(SEED_SCHEMAS.items()))
def test_fixtures_seed_file_validates_against_its_schema(name: str, pointer: str) -> None:
    value = json.loads((SEED / name).read_text())
    assert load_spec().check(pointer).violations(value) == []


def test_fixtures_seed_files_equal_the_spec_examples() -> None:
    spec = load_spec()
    create = spec.document["paths"]["/api/v1/jobs/createTask"]["post"]
    examples = create["requestBody"]["content"]["application/json"]["examples"]
    seed = json.loads((SEED / "create_task_character.json").read_text())
    assert seed == examples["seedCharacter"]["value"]
    record = spec.document["components"]["examples"]["RecordInfoSeedSuccess"]["value"]
    assert json.loads((SEED / "record_info_success.json").read_text()) == record


def test_spec_rejects_a_record_with_an_unknown_state() -> None:
    record = json.loads((SEED / "record_info_success.json").read_text())
    record["data"]["state"] = "done"
    problems = load_spec().check("#/components/schemas/RecordInfoOk").violations(record)
    assert [p.field for p in problems] == ["data.state"]


def test_spec_admits_both_documented_and_live_record_shapes() -> None:
    check = load_spec().check("#/components/schemas/TaskRecord")
    live = json.loads((SEED / "record_info_success.json").read_text())["data"]
    docs = json.loads((SEED / "record_info_docs_shape.json").read_text())["data"]
    assert "updateTime" not in live and docs["failCode"] == ""
    assert check.is_valid(live) and check.is_valid(docs)


@pytest.mark.parametrize("case", CATALOGUE, ids=[c["name"] for c in CATALOGUE])
def test_catalogue_invalid_body_is_rejected_naming_its_field(case: dict[str, Any]) -> None:
    # Unknown fields are refused only by the --strict-fields variant of the spec.
    strict = case["rule"] == "additionalProperties"
    lenient = load_spec().operations["createTask"].body
    body = load_spec(strict=True).operations["createTask"].body if strict else lenient
    assert body is not None and lenient is not None
    if strict:
        assert lenient.reject(case["body"]) is None, "unknown fields are ignored by default"
    rejection = body.reject(case["body"])
    assert rejection is not None, "the spec accepted a catalogued invalid body"
    assert rejection.code == case["code"]
    if case["rule"] == "unknown-model":
        assert rejection.msg == "The page does not exist or is not published"
    else:
        assert rejection.field == case["field"]
        assert rejection.rule == case["rule"]
        assert case["field"] in rejection.msg or case["field"] == ""


def test_catalogue_covers_every_model_and_many_rules() -> None:
    models = {c["model"] for c in CATALOGUE}
    rules = {c["rule"] for c in CATALOGUE}
    assert {"ideogram/character", "ideogram/character-edit", "ideogram/character-remix"} <= models
    assert {"required", "enum", "maxLength", "type", "format", "additionalProperties"} <= rules


def _reject(body: dict[str, Any]) -> Any:
    spec_body = load_spec(strict=True).operations["createTask"].body
    assert spec_body is not None
    return spec_body.reject(body)


@pytest.mark.parametrize(
    "name", ["create_task_character.json", "create_task_edit.json", "create_task_remix.json"]
)
def test_spec_accepts_each_seed_request(name: str) -> None:
    assert _reject(json.loads((SEED / name).read_text())) is None


def test_models_differ_edit_needs_image_and_mask_character_does_not() -> None:
    edit = json.loads((SEED / "create_task_edit.json").read_text())
    del edit["input"]["mask_url"]
    assert _reject(edit).field == "input.mask_url"
    character = json.loads((SEED / "create_task_character.json").read_text())
    assert "mask_url" not in character["input"] and _reject(character) is None


def test_models_differ_negative_prompt_cap_is_500_for_remix_and_5000_for_character() -> None:
    remix = json.loads((SEED / "create_task_remix.json").read_text())
    character = json.loads((SEED / "create_task_character.json").read_text())
    remix["input"]["negative_prompt"] = character["input"]["negative_prompt"] = "n" * 600
    assert _reject(remix).rule == "maxLength"
    assert _reject(character) is None


def test_models_differ_num_images_5_and_strength_1_5_are_rejected() -> None:
    remix = json.loads((SEED / "create_task_remix.json").read_text())
    remix["input"]["num_images"] = "5"
    assert _reject(remix).field == "input.num_images"
    remix["input"]["num_images"] = "4"
    remix["input"]["strength"] = 1.5
    assert _reject(remix).field == "input.strength"
    remix["input"]["strength"] = 1.0
    assert _reject(remix) is None


def test_models_differ_edit_takes_no_image_size() -> None:
    edit = json.loads((SEED / "create_task_edit.json").read_text())
    edit["input"]["image_size"] = "square_hd"
    rejection = _reject(edit)
    assert (rejection.field, rejection.rule) == ("input.image_size", "additionalProperties")


def test_spec_missing_task_id_is_400_with_the_observed_message() -> None:
    op = load_spec().operations["getTaskRecord"]
    rejection = op.reject_query({})
    assert rejection is not None
    assert (rejection.code, rejection.msg) == (400, "taskId parameter is required")
    assert op.reject_query({"taskId": "152e948a28b9f2bb6525e0ae9a01ecd1"}) is None


def test_spec_every_place_docs_and_live_differ_says_what_the_fake_follows() -> None:
    notes = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "x-observed":
                    notes.extend(value.values())
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(load_spec().document)
    assert len(notes) >= 8
    for note in notes:
        assert {"docs", "live", "fake"} <= set(note), note


def test_spec_links_created_task_id_to_record_info() -> None:
    create = load_spec().document["paths"]["/api/v1/jobs/createTask"]["post"]
    link = create["responses"]["200"]["links"]["GetTaskRecord"]
    assert link["operationId"] == "getTaskRecord"
    assert link["parameters"]["taskId"] == "$response.body#/data/taskId"
    assert "getTaskRecord" in load_spec().operations


def test_spec_response_problems_names_what_is_wrong() -> None:
    spec = load_spec()
    good = (SEED / "record_info_success.json").read_bytes()
    assert spec.response_problems("getTaskRecord", 200, "application/json", good) == []
    bad = json.loads(good)
    bad["data"]["createTime"] = "yesterday"
    problems = spec.response_problems(
        "getTaskRecord", 200, "application/json", json.dumps(bad).encode()
    )
    assert problems and "getTaskRecord" in problems[0]
    mirrored = b'{"code": 422, "msg": "recordInfo is null", "data": null}'
    assert spec.response_problems("getTaskRecord", 422, "application/json", mirrored) == []
    assert spec.response_problems("getTaskRecord", 429, "application/json", mirrored) != []
    assert spec.response_problems("getTaskRecord", 418, "application/json", mirrored) != []


class _UniqueKeys(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _no_duplicates(loader: _UniqueKeys, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    twice = {k for k in keys if keys.count(k) > 1}
    if twice:
        raise ValueError(f"line {node.start_mark.line + 1}: keys given twice: {sorted(twice)}")
    return loader.construct_mapping(node, deep=deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


@pytest.mark.parametrize("name", SPEC_FILES)
def test_spec_gives_no_key_twice(name: str) -> None:
    with spec_path(name).open(encoding="utf-8") as fh:
        yaml.load(fh, Loader=_UniqueKeys)


def test_spec_parses_are_cached_by_content_and_a_bad_cache_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ideogram_mock.server import spec

    monkeypatch.setenv("IDEOGRAM_MOCK_CACHE", str(tmp_path))
    expected = yaml.safe_load(spec.spec_path("segmind.yaml").read_text())
    assert spec.load_document("segmind.yaml") == expected
    (kept,) = tmp_path.glob("segmind.yaml.*.marshal")
    assert spec.load_document("segmind.yaml") == expected  # read back from the cache
    kept.write_bytes(b"\x00not marshal")
    assert spec.load_document("segmind.yaml") == expected  # parsed again
    assert spec.load_document("segmind.yaml") == expected
    # A changed spec gets its own entry, and the old one goes.
    copy = tmp_path / "specs"
    copy.mkdir()
    (copy / "segmind.yaml").write_text(spec.spec_path("segmind.yaml").read_text() + "\n# x\n")
    monkeypatch.setattr(spec, "spec_path", lambda name: copy / name)
    assert spec.load_document("segmind.yaml") == expected
    assert len(list(tmp_path.glob("segmind.yaml.*.marshal"))) == 1
    assert next(tmp_path.glob("segmind.yaml.*.marshal")) != kept
    monkeypatch.setenv("IDEOGRAM_MOCK_CACHE", "off")
    assert spec.load_document("segmind.yaml") == expected


@pytest.mark.parametrize("name", SPEC_FILES)
def test_spec_every_schema_the_fake_checks_compiles(name: str) -> None:
    # Validators compile on first use; a schema that could not would fail here, not at a
    # request.
    checks = []
    for op in load_spec(name).operations.values():
        checks += [p.check for p in op.parameters]
        if op.body is not None:
            checks += [op.body.check] if op.body.check else []
            checks += list(op.body.by_value.values())
        checks += [c for media in op.responses.values() for c in media.values() if c]
    assert checks
    for check in checks:
        assert check.compiled() is not None


def test_spec_a_schema_that_cannot_compile_says_so_rather_than_refusing_every_body() -> None:
    import jsonschema_rs

    from ideogram_mock.server.spec import SchemaCheck

    document = {"components": {"schemas": {"In": {"type": "object", "properties": {
        "prompt": {"type": "strng"}}}}}}  # fmt: skip
    check = SchemaCheck(document, "#/components/schemas/In")
    with pytest.raises(jsonschema_rs.ValidationError):
        check.is_valid({"prompt": "p"})
    with pytest.raises(jsonschema_rs.ValidationError):
        check.violations({"prompt": "p"})
