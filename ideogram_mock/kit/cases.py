"""Requests as every provider's kit makes them: schemathesis cases sent through the kit's own
client with the kit's key, and a short description of a request for a report line."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import schemathesis
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema
from urllib3.filepost import encode_multipart_formdata

from ideogram_mock.kit.config import KitConfig
from ideogram_mock.server.spec import spec_path


class Kit(Protocol):
    config: KitConfig
    client: httpx.Client

    def headers(self, api_key: str | None = "default") -> dict[str, str]: ...


def schema_for(kit: Kit, spec: str, spending: tuple[str, ...] = ()) -> BaseSchema:
    """Schemathesis over a spec file, as every kit runs it: examples, coverage and fuzzing
    phases, positive and negative data, the run's example budget, no generated credentials
    (the kit tests authentication itself); live, without the operations that spend."""
    schema: BaseSchema = schemathesis.openapi.from_path(str(spec_path(spec)))
    schema.config.update(base_url=kit.config.base_url)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=kit.config.max_examples,
        no_shrink=True,
        with_security_parameters=False,
    )
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    if kit.config.live:
        # Every accepted generation spends credits: the live run tests those operations
        # through the budgeted behaviour tests instead.
        for operation_id in spending:
            schema = schema.exclude(operation_id=operation_id)
    return schema


def describe(request: httpx.Request) -> str:
    """The request that showed a finding, short enough for a report line: method, URL, the
    headers that decide an answer (credentials masked) and the start of the body."""
    body = request.content.decode("utf-8", "replace") if request.content else ""
    if len(body) > 240:
        body = body[:239] + "…"
    shown = []
    for name in ("content-type", "authorization", "x-api-key"):
        value = request.headers.get(name)
        if value is None:
            continue
        if name == "authorization":
            value = value.partition(" ")[0] + " ***"
        elif name == "x-api-key":
            value = "***"
        shown.append(f"{name}: {value.split(';')[0]}")
    headers = f" [{'; '.join(shown)}]" if shown else ""
    return f"{request.method} {request.url}{headers}" + (f" {body}" if body else "")


def to_request(kit: Kit, case: Case[Any]) -> httpx.Request:
    """The case as a request of the kit's client, carrying the kit's key (unless the case
    carries the provider's auth header itself)."""
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url=kit.config.base_url)
    headers = {k: v for k, v in kwargs.get("headers", {}).items() if k.lower() != "connection"}
    auth = kit.headers()
    if not any(k.lower() in {a.lower() for a in auth} for k in headers):
        headers.update(auth)
    content: Any = None
    if "json" in kwargs:
        content = httpx.Request("POST", "http://x", json=kwargs["json"]).content
    elif kwargs.get("files") is not None:
        # A multipart body, parts as schemathesis gives them: (name, (filename|None, value…)).
        fields = [(name, part[1] if part[0] is None else part) for name, part in kwargs["files"]]
        content, ctype = encode_multipart_formdata(fields)
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = ctype
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        content = data if isinstance(data, bytes | str) else None
    return kit.client.build_request(
        kwargs["method"], kwargs["url"], headers=headers, params=kwargs.get("params"),
        content=content,
    )  # fmt: skip
