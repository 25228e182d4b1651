"""The baseline for throughput: a bare starlette app answering constant bodies."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def baseline_app() -> Starlette:
    """GET /get and POST /post answer BENCH_GET_BYTES / BENCH_POST_BYTES bytes of JSON."""
    get_body = b'{"x":"' + b"a" * max(0, int(os.environ.get("BENCH_GET_BYTES", "100")) - 8) + b'"}'
    post_body = b'{"x":"' + b"a" * max(0, int(os.environ.get("BENCH_POST_BYTES", "80")) - 8) + b'"}'

    async def get(request: Request) -> Response:
        return Response(get_body, media_type="application/json")

    async def post(request: Request) -> Response:
        await request.body()
        return Response(post_body, media_type="application/json")

    return Starlette(routes=[Route("/get", get), Route("/post", post, methods=["POST"])])
