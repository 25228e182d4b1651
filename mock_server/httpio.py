"""Small HTTP helpers shared by the upstream and control handlers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

_NOT_JSON = object()


def bearer(request: Request) -> str | None:
    """The API key of `Authorization: Bearer <key>`, or None."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
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
