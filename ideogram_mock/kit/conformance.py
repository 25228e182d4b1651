"""Does an answer or a callback conform to the spec? Used by tests, the plugin and the kit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ideogram_mock.providers import PROVIDERS
from ideogram_mock.server.spec import CONTROL, UPSTREAM, Spec, load_spec


def all_specs() -> tuple[Spec, ...]:
    """Every provider's spec, then the control API's."""
    return (*(load_spec(p.spec) for p in PROVIDERS.values()), load_spec(CONTROL))


class Conformance:
    """Finds the operation of a request in a provider's or the control spec and checks the
    answer; checks kie's callbacks (the one provider that sends them)."""

    def __init__(self, specs: tuple[Spec, ...] | None = None) -> None:
        self.specs = specs if specs is not None else all_specs()
        upstream = load_spec(UPSTREAM)
        create = upstream.document["paths"]["/api/v1/jobs/createTask"]["post"]
        callback = create["callbacks"]["taskFinished"]["{$request.body#/callBackUrl}"]["post"]
        media = callback["requestBody"]["content"]["application/json"]
        self._callback = upstream.check_schema(media["schema"])
        self._headers = {
            p["name"].lower(): upstream.check_schema(p["schema"]) for p in callback["parameters"]
        }

    def response_problems(
        self, method: str, path: str, status: int, content_type: str, body: bytes
    ) -> list[str]:
        """What is wrong with an answer; an undocumented path is itself a problem."""
        for spec in self.specs:
            op = spec.operation_for(method, path)
            if op is not None:
                return spec.response_problems(op.operation_id, status, content_type, body)
        return [f"{method} {path}: not an operation of any spec"]

    def callback_problems(self, body: Any, headers: Mapping[str, str]) -> list[str]:
        """What is wrong with a callback POST (body and the signing headers)."""
        problems = [f"callback body: {v.message}" for v in self._callback.violations(body)]
        lowered = {k.lower(): v for k, v in headers.items()}
        for name, check in self._headers.items():
            if name in lowered and not check.is_valid(lowered[name]):
                problems.append(f"callback header {name}: {lowered[name]!r} does not conform")
        ctype = lowered.get("content-type", "")
        if not ctype.startswith("application/json"):
            problems.append(f"callback content-type {ctype!r} is not application/json")
        return problems
