"""kie's `{code, msg, data}` envelope."""

from __future__ import annotations

from typing import Any

import orjson


def ok(data: Any) -> bytes:
    return orjson.dumps({"code": 200, "msg": "success", "data": data})


def error(code: int, msg: str) -> bytes:
    return orjson.dumps({"code": code, "msg": msg, "data": None})
