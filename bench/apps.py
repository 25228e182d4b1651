"""The baseline for throughput: a bare starlette app answering constant bodies."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

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

    routes = [Route("/get", get), Route("/post", post, methods=["POST"])]
    # More GET sizes (BENCH_MORE_GET_BYTES="255,571"): /get1, /get2, ...
    for i, size in enumerate(os.environ.get("BENCH_MORE_GET_BYTES", "").split(","), 1):
        if size:
            routes.append(Route(f"/get{i}", _constant(int(size))))
    return Starlette(routes=routes)


def _constant(size: int) -> Callable[[Request], Awaitable[Response]]:
    body = b'{"x":"' + b"a" * max(0, size - 8) + b'"}'

    async def get(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return get


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.apps PORT`: the baseline app on the fake's own server (`EagerServer`:
    eager accept, one write per answer), to tell the app's cost from the server's."""
    import socket
    import sys

    import uvicorn

    from ideogram_mock.server.accept import EagerServer

    port = int((argv if argv is not None else sys.argv[1:])[0])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(baseline_app(), log_level="warning", access_log=False)
    EagerServer(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
