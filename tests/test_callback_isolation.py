"""Callback delivery stays isolated under a storm of bad receivers: one that hangs and one that
answers 500 cannot starve a healthy receiver's callbacks, each receiver holds at most its share
of the attempts in flight, and an attempt's timeout includes the wait for a connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ideogram_mock.settings import Settings
from ideogram_mock.testing.live import RunningServer, start_server
from ideogram_mock.testing.receiver import CallbackReceiver
from tests.conftest import local_body

HANGING = 32


class Hanging:
    """A receiver that reads the POST and never answers (until closed), counting the POSTs."""

    def __init__(self) -> None:
        self.now = 0
        self.total = 0
        lock = threading.Lock()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with lock:
                    outer.now += 1
                    outer.total += 1
                outer.release.wait(30)
                with lock:
                    outer.now -= 1

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def storm() -> Iterator[tuple[RunningServer, Hanging, CallbackReceiver, CallbackReceiver]]:
    server = start_server(
        Settings(
            port=0,
            rate_limit=None,
            time_scale=0.01,
            callback_timeout_s=1.0,
            callback_retries=0,
            callback_per_host=4,
        )
    )
    hanging, failing, healthy = Hanging(), CallbackReceiver([500]), CallbackReceiver([200])
    try:
        yield server, hanging, failing, healthy
    finally:
        hanging.close()
        failing.close()
        healthy.close()
        server.stop()


def _create(base: str, callback: str) -> str:
    body = {**local_body(), "callBackUrl": callback}
    answer = httpx.post(
        f"{base}/api/v1/jobs/createTask", json=body, headers={"Authorization": "Bearer k"}
    ).json()
    task_id: str = answer["data"]["taskId"]
    return task_id


def test_a_hanging_and_a_failing_receiver_cannot_starve_a_healthy_one(
    storm: tuple[RunningServer, Hanging, CallbackReceiver, CallbackReceiver],
) -> None:
    server, hanging, failing, healthy = storm
    for _ in range(HANGING):
        _create(server.url, hanging.url)
        _create(server.url, failing.url)
    started = time.monotonic()
    mine = [_create(server.url, healthy.url) for _ in range(10)]
    got = healthy.wait_for(10, timeout=20)
    # 32 hanging attempts at 1 s each would hold the healthy ones back ~8 s if they shared
    # four slots; with each receiver limited to its share, they go out as their tasks end.
    assert time.monotonic() - started < 5
    assert {r.json()["data"]["taskId"] for r in got} == set(mine)
    failing.wait_for(HANGING, timeout=30)
    deadline = time.monotonic() + 30
    while len([a for a in server.fake.callbacks if a.url == hanging.url]) < HANGING:
        assert time.monotonic() < deadline, "the hanging receiver's attempts did not all end"
        time.sleep(0.1)
    hung = [a for a in server.fake.callbacks if a.url == hanging.url]
    assert all(a.error == "timed out after 1 s" for a in hung)
    assert all(a.latencyMs < 2000 for a in hung)  # the timeout includes waiting for a slot
    # The fake never had more than its per-host share of attempts open to one receiver.
    edges = sorted(
        [(a.atMs, 1) for a in hung] + [(a.atMs + round(a.latencyMs) - 1, -1) for a in hung]
    )
    open_now = most = 0
    for _, step in edges:
        open_now += step
        most = max(most, open_now)
    assert most <= 4
    assert hanging.total == HANGING
