"""Small HTTP helpers shared by the upstream and control handlers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import anyio
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


class BodyTimeout(Exception):
    """The body did not fully arrive in time (shorter than its Content-Length, or a chunked
    body with no end): the request is dropped, not answered."""


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (read no further). BodyTimeout
    when it has not all arrived within `timeout_s`; starlette's ClientDisconnect when the
    client went away first."""
    declared = request.headers.get("content-length")
    size = ascii_int(declared)
    if size is not None and size > limit:
        return None
    chunks, size = [], 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {timeout_s:g} s") from None
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
