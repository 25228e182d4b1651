"""cProfile of the hot paths through the ASGI app (no socket): what a request costs the fake
beyond a bare starlette route answering the same bytes. Prints µs per request and the top
costs; `make profile` (or python -m bench.profile
[recordInfo|createTask|segmindPoll|scenarioPoll|download]). `download` fetches a result image
of a task of its own each time, as a client's test does: the picture is drawn and encoded.
"""

from __future__ import annotations

import asyncio
import base64
import cProfile
import functools
import json
import os
import pstats
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from bench.apps import baseline_app
from bench.run import KEY, LIFECYCLE_BODY, ROOT, SEED_BODY
from ideogram_mock.core.engine import Fake
from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.settings import Settings

Scope = dict[str, Any]


def _scope(method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "headers": [(b"host", b"127.0.0.1:8000"), *headers], "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 1), "root_path": "",
    }  # fmt: skip


async def _drive(app: Any, make: Callable[[], tuple[Scope, bytes]], count: int) -> float:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    started = time.perf_counter()
    for _ in range(count):
        scope, body = make()

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, receive, send)
        if sent[0]["status"] not in (200, 201):
            raise RuntimeError(f"answered {sent[0]['status']}: {sent[-1]}")
        sent.clear()
    return (time.perf_counter() - started) / count * 1e6


def _fake_app(store: str | None = None) -> tuple[Fake, Any]:
    fake = make_fake(
        Settings(
            clock=os.environ.get("PROFILE_CLOCK", "manual"),
            rate_limit=None,
            credits=10**15,
            time_scale=0,
            # PROFILE_STORE=sqlite:///PATH or redis://...: the same paths on another store.
            store=store or os.environ.get("PROFILE_STORE", "memory"),
        )
    )
    return fake, create_app(fake=fake)


def _run_once(app: Any, scope: Scope, data: bytes) -> bytes:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def paths(downloads: int = 0) -> dict[str, tuple[Any, Callable[[], tuple[Scope, bytes]], int]]:
    """Each hot path: the fake's app, a request maker, and the answer's size for the baseline;
    `downloads`: how many result images `download` can fetch (none: no such path; its tasks
    are a fake's of their own, so the other paths run on a store as small as before)."""
    fake, app = _fake_app()
    kie = [(b"authorization", f"Bearer {KEY}".encode())]
    json_type = [(b"content-type", b"application/json")]
    body = json.dumps({k: v for k, v in SEED_BODY.items() if k != "callBackUrl"}).encode()
    out: dict[str, tuple[Any, Callable[[], tuple[Scope, bytes]], int]] = {}

    run_once = functools.partial(_run_once, app)
    create = _scope("POST", "/api/v1/jobs/createTask", b"", kie + json_type)
    answer = run_once(create, body)
    task_id = json.loads(answer)["data"]["taskId"]
    record = _scope("GET", "/api/v1/jobs/recordInfo", f"taskId={task_id}".encode(), kie)
    out["recordInfo"] = (app, lambda: (dict(record), b""), len(run_once(record, b"")))
    out["createTask"] = (app, lambda: (dict(create), body), len(answer))
    seg = [(b"x-api-key", b"SG_bench")]
    seg_body = json.dumps(
        {"prompt": "a knight", "character_reference_image": "http://127.0.0.1:9/me.png"}
    ).encode()
    queued = json.loads(
        run_once(_scope("POST", "/v2/ideogram-character", b"", seg + json_type), seg_body)
    )
    poll = _scope("GET", f"/v2/requests/{queued['request_id']}", b"", seg)
    out["segmindPoll"] = (app, lambda: (dict(poll), b""), len(run_once(poll, b"")))
    basic = base64.b64encode(b"bench:secret")
    sc = [(b"authorization", b"Basic " + basic)]
    portrait = ROOT / "fixtures" / "images" / "portrait.png"
    upload = {"name": "portrait.png", "image": base64.b64encode(portrait.read_bytes()).decode()}
    asset = json.loads(
        run_once(_scope("POST", "/v1/assets", b"", sc + json_type), json.dumps(upload).encode())
    )["asset"]["id"]
    job_answer = json.loads(
        run_once(
            _scope("POST", "/v1/generate/custom/model_ideogram-character", b"", sc + json_type),
            json.dumps({"prompt": "a knight", "characterReferenceImage": asset}).encode(),
        )
    )
    job_id = job_answer.get("job", {}).get("jobId")
    if job_id:
        job = _scope("GET", f"/v1/jobs/{job_id}", b"", sc)
        out["scenarioPoll"] = (app, lambda: (dict(job), b""), len(run_once(job, b"")))
    fake.clock.advance(60)
    if downloads:
        out["download"] = _downloads(create, downloads)
    return out


def _downloads(create: Scope, count: int) -> tuple[Any, Callable[[], tuple[Scope, bytes]], int]:
    """The `download` path: `count` result images of tasks of their own, each fetched once
    (in memory whatever PROFILE_STORE says: a store shared with the other paths would hold
    these tasks too, and the picture is drawn alike on every store)."""
    fake, app = _fake_app("memory")
    image_body = json.dumps(LIFECYCLE_BODY).encode()
    made = [
        json.loads(_run_once(app, dict(create), image_body))["data"]["taskId"] for _ in range(count)
    ]
    fake.clock.advance(60)
    files = iter([urlsplit(fake.result_urls(fake.task(t))[0]).path for t in made])
    size = len(_run_once(app, _scope("GET", next(files), b"", []), b""))
    return app, lambda: (_scope("GET", next(files), b"", []), b""), size


def main(argv: list[str]) -> int:
    every = ["recordInfo", "createTask", "segmindPoll", "scenarioPoll", "download"]
    chosen = list(dict.fromkeys(argv or every))  # (each path once)
    count = int(os.environ.get("PROFILE_COUNT", "5000"))
    # the answer's size, the baseline's body, the warm-up, three timed runs and a profiled one
    found = paths(downloads=2 + 200 + 4 * count if "download" in chosen else 0)
    for name in chosen:
        if name not in found:
            print(f"{name}: not available")
            continue
        app, make, size = found[name]
        os.environ["BENCH_GET_BYTES"] = os.environ["BENCH_POST_BYTES"] = str(size)
        base = baseline_app()
        scope, body = make()
        base_scope = _scope(
            scope["method"], "/get" if scope["method"] == "GET" else "/post", b"", []
        )

        def base_make(scope: Scope = base_scope, body: bytes = body) -> tuple[Scope, bytes]:
            return dict(scope), body

        asyncio.run(_drive(app, make, 200))
        fake_us = min(asyncio.run(_drive(app, make, count)) for _ in range(3))
        base_us = min(asyncio.run(_drive(base, base_make, count)) for _ in range(3))
        print(f"{name}: fake {fake_us:.1f} µs, bare starlette {base_us:.1f} µs per request "
              f"(answer {size} B)")  # fmt: skip
        profile = cProfile.Profile()
        profile.enable()
        asyncio.run(_drive(app, make, count))
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(
            int(os.environ.get("PROFILE_TOP", "15"))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
