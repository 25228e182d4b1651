"""Small HTTP helpers shared by the upstream and control handlers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.types import Scope

from ideogram_mock.core.numbers import ascii_int

_NOT_JSON = object()


def bearer(scope: Scope) -> str | None:
    """The API key of `Authorization: Bearer <key>`, or None (read from the raw headers)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            key = key.strip()
            return key if scheme.lower() == "bearer" and key else None
    return None


def query(scope: Scope) -> dict[str, str]:
    """The query string as a dict (the last value of a repeated name wins)."""
    raw = scope["query_string"]
    if not raw:
        return {}
    text = raw.decode("latin-1")
    if "%" not in text and "+" not in text:
        return dict(part.partition("=")[::2] for part in text.split("&") if part)
    return dict(parse_qsl(text, keep_blank_values=True))


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (read no further)."""
    declared = request.headers.get("content-length")
    size = ascii_int(declared)
    if size is not None and size > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """The JSON value, or `NOT_JSON`."""
    if not raw.strip():
        return _NOT_JSON
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def is_json(value: Any) -> bool:
    return value is not _NOT_JSON
