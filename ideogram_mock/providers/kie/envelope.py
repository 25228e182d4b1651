"""Encoding answers: the `{code, msg, data}` envelope, control-API errors, a gateway page."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json"
JSON_BYTES = b"application/json"
GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def ok(data: Any) -> bytes:
    return orjson.dumps({"code": 200, "msg": "success", "data": data})


def error(code: int, msg: str) -> bytes:
    return orjson.dumps({"code": code, "msg": msg, "data": None})


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def control_error(status: int, message: str, field: str | None = None) -> Response:
    payload: dict[str, str] = {"error": message}
    if field:
        payload["field"] = field
    return json_response(orjson.dumps(payload), status)
