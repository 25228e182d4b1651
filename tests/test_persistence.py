"""State that survives and is shared: `ideogram-mock serve` processes on SQLite and on a real
Redis server, killed with SIGKILL under load, stopped with SIGTERM, restarted, and run side by
side (two servers on one Redis, two workers on one SQLite file)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ideogram_mock.testing.receiver import CallbackReceiver
from ideogram_mock.testing.redis_server import free_port
from tests.conftest import store_url

CLI = [sys.executable, "-m", "ideogram_mock"]
CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"
KEY = {"Authorization": "Bearer persistent-key"}
COST = 18  # one BALANCED image, in kie credits (CREDITS_PER_IMAGE)


def _body(prompt: str = "a knight", callback: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "ideogram/character",
        "input": {"prompt": prompt, "reference_image_urls": ["http://127.0.0.1:9/me.png"]},
    }
    if callback:
        body["callBackUrl"] = callback
    return body


@dataclass
class Served:
    """One `ideogram-mock serve` process on a fixed port (so its URLs outlive a restart)."""

    store: str
    cwd: Path
    flags: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Served:
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port), "--store", self.store, "--quiet",
             "--rate-limit", "off", *self.flags],
            cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # its workers, if any, share its process group
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"the fake did not start: {err}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server (its supervisor, with --workers); then make sure no process of
        its group outlives it."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self.proc.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stderr:
            self.proc.stderr.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=10, **kwargs)

    def record(self, task_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.get(RECORD, params={"taskId": task_id}, headers=KEY).json()
        return answer

    def credits(self) -> int:
        return int(self.get("/api/v1/chat/credit", headers=KEY).json()["data"])


@pytest.fixture(params=["sqlite", "redis"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh durable store's URL: an SQLite file, or a key prefix on a real Redis server."""
    return store_url(request.param, tmp_path, request)


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    """Every server a test starts is gone when it ends."""
    started: list[Served] = []
    yield started
    for server in started:
        if server.proc is not None and (
            server.proc.stderr is None or not server.proc.stderr.closed
        ):
            server.stop()


def _load(server: Served, answered: dict[str, dict[str, Any]], stop: threading.Event) -> None:
    """Create tasks until told to stop (or the server dies), keeping each answered task's
    record as first read."""
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for n in range(2_000):  # bounded, whatever happens
            if stop.is_set():
                return
            try:
                answer = client.post(CREATE, json=_body(f"load {n}"), headers=KEY).json()
                task_id = answer["data"]["taskId"]
                record = client.get(RECORD, params={"taskId": task_id}, headers=KEY).json()
            except (httpx.TransportError, ValueError):
                return
            answered[task_id] = record["data"]


def test_kill_9_under_create_load_loses_no_answered_task_and_reuses_no_id(
    durable: str, tmp_path: Path, servers: list[Served]
) -> None:
    server = Served(durable, tmp_path, ("--time-scale", "0.01"))
    servers.append(server.start())
    answered: dict[str, dict[str, Any]] = {}
    stop = threading.Event()
    loaders = [threading.Thread(target=_load, args=(server, answered, stop)) for _ in range(3)]
    for loader in loaders:
        loader.start()
    deadline = time.monotonic() + 20
    while len(answered) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop(signal.SIGKILL)  # mid-load: requests are in flight
    stop.set()
    for loader in loaders:
        loader.join(10)
    assert len(answered) >= 150

    server.start()
    for task_id, first in answered.items():
        record = server.record(task_id)
        assert record["code"] == 200, (task_id, record)
        for name in ("taskId", "model", "param", "createTime"):
            assert record["data"][name] == first[name]
    stored = server.get("/_mock/tasks", params={"limit": 1000}).json()
    # Every task created is there once; a new one takes an id none of them had.
    ids = [t["taskId"] for t in stored["tasks"]]
    assert set(answered) <= set(ids) and len(ids) == len(set(ids))
    new_id = server.post(CREATE, json=_body(), headers=KEY).json()["data"]["taskId"]
    assert new_id not in ids


def test_kill_9_keeps_credits_rules_clock_and_signed_links(
    durable: str, tmp_path: Path, servers: list[Served]
) -> None:
    server = Served(durable, tmp_path, ("--clock", "manual"))
    servers.append(server.start())
    task_id = server.post(CREATE, json=_body(), headers=KEY).json()["data"]["taskId"]
    server.post("/_mock/clock/advance", json={"seconds": 60})
    link = json.loads(server.record(task_id)["data"]["resultJson"])["resultUrls"][0]
    image = httpx.get(link).content
    rule = server.post("/_mock/faults", json={"endpoint": "recordInfo", "code": 500}).json()
    credits, clock = server.credits(), server.get("/_mock/clock").json()["nowMs"]
    assert credits == 100_000 - COST
    server.stop(signal.SIGKILL)

    server.start()
    assert server.get("/_mock/clock").json()["nowMs"] == clock
    assert server.get("/_mock/faults").json()["faults"] == [rule]
    assert server.record(task_id)["code"] == 500  # the rule, used once
    assert server.record(task_id)["data"]["state"] == "success"
    assert server.credits() == credits
    assert httpx.get(link).content == image  # the link and its signature still hold


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_pending_callbacks_survive_a_stop_and_arrive_after_the_restart(
    durable: str, sig: int, tmp_path: Path, servers: list[Served]
) -> None:
    server = Served(durable, tmp_path)
    servers.append(server.start())
    with CallbackReceiver() as receiver:
        created = [
            server.post(CREATE, json=_body("[mock:seconds=1.5] a", receiver.url), headers=KEY)
            for _ in range(5)
        ]
        ids = {c.json()["data"]["taskId"] for c in created}
        server.stop(sig)
        time.sleep(1.6)  # they fall due while the fake is down
        assert receiver.received == []
        server.start()
        receiver.wait_for(5, timeout=15)
        time.sleep(0.8)  # and none twice
        assert sorted(r.json()["data"]["taskId"] for r in receiver.received) == sorted(ids)


def test_two_servers_on_one_redis_share_tasks_clock_and_send_each_callback_once(
    tmp_path: Path, servers: list[Served], request: pytest.FixtureRequest
) -> None:
    url = store_url("redis", tmp_path, request)
    one, two = Served(url, tmp_path), Served(url, tmp_path)
    servers += [one.start(), two.start()]
    with CallbackReceiver() as receiver:
        ids = set()
        for n in range(20):
            server = (one, two)[n % 2]
            body = _body("[mock:seconds=1] a", receiver.url)
            ids.add(server.post(CREATE, json=body, headers=KEY).json()["data"]["taskId"])
        for task_id in ids:  # each server reads the other's tasks
            assert one.record(task_id)["code"] == two.record(task_id)["code"] == 200
        receiver.wait_for(20, timeout=15)
        time.sleep(1.2)  # both poll the queue: give a duplicate every chance to show
        delivered = [r.json()["data"]["taskId"] for r in receiver.received]
        assert sorted(delivered) == sorted(ids)
    assert one.credits() == two.credits() == 100_000 - 20 * COST
    two.post("/_mock/clock/advance", json={"seconds": 3600})
    shift = [s.get("/_mock/clock").json()["nowMs"] - time.time() * 1000 for s in (one, two)]
    assert all(3_590_000 < s < 3_610_000 for s in shift)  # one clock, moved by either


def _workers(server: Served) -> set[int]:
    """The worker pids that answer, over a few fresh connections."""
    return {server.get("/health").json()["pid"] for _ in range(40)}


def test_two_workers_on_one_sqlite_file_share_state_and_send_each_callback_once(
    tmp_path: Path, servers: list[Served]
) -> None:
    server = Served(f"sqlite:///{tmp_path}/state.db", tmp_path, ("--workers", "2"))
    servers.append(server.start())
    assert len(_workers(server)) == 2
    with CallbackReceiver() as receiver:
        bodies = [_body("[mock:seconds=1] a", receiver.url) for _ in range(30)]
        ids = {server.post(CREATE, json=b, headers=KEY).json()["data"]["taskId"] for b in bodies}
        assert len(ids) == 30  # no two workers draw one id
        for _ in range(6):  # whichever worker answers sees every task
            assert server.get("/_mock/tasks", params={"limit": 100}).json()["count"] == 30
        receiver.wait_for(30, timeout=15)
        time.sleep(1.2)
        assert sorted(r.json()["data"]["taskId"] for r in receiver.received) == sorted(ids)
    assert server.credits() == 100_000 - 30 * COST


def test_two_workers_keep_credits_and_rate_limits_exact_under_concurrent_creates(
    tmp_path: Path, servers: list[Served]
) -> None:
    flags = ("--workers", "2", "--credits", str(7 * COST), "--rate-limit", "10/60")
    server = Served(f"sqlite:///{tmp_path}/state.db", tmp_path, flags)  # the last flag wins
    servers.append(server.start())
    assert len(_workers(server)) == 2

    def create(_: int) -> int:
        answer = server.post(CREATE, json=_body(), headers=KEY).json()
        return int(answer["code"])

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(create, range(20)))
    # Exactly 10 admitted by the limit (refusals count too), of which exactly 7 are paid for.
    assert sorted(codes) == [200] * 7 + [402] * 3 + [429] * 10
    assert server.credits() == 0


def test_two_workers_share_one_manual_clock(tmp_path: Path, servers: list[Served]) -> None:
    server = Served(
        f"sqlite:///{tmp_path}/state.db", tmp_path, ("--workers", "2", "--clock", "manual")
    )
    servers.append(server.start())
    before = server.get("/_mock/clock").json()["nowMs"]
    server.post("/_mock/clock/advance", json={"seconds": 90})
    seen = {server.get("/_mock/clock").json()["nowMs"] for _ in range(20)}
    assert seen == {before + 90_000}


def test_workers_need_a_shared_store_and_a_bad_store_is_refused(tmp_path: Path) -> None:
    for flags, expect in (
        (("--workers", "2", "--store", "memory"), "several workers need a shared store"),
        (("--store", "postgres://x"), "store must be memory, sqlite:///PATH or redis://"),
        (("--store", "redis://127.0.0.1:9/0"), "cannot open the store redis://127.0.0.1:9/0"),
    ):
        done = subprocess.run(
            [*CLI, "serve", "--port", "0", *flags], cwd=tmp_path, capture_output=True,
            text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert expect in done.stderr


def test_serve_keeps_its_state_in_a_folder_of_the_working_directory(tmp_path: Path) -> None:
    # No --store: serve's default, printed in its banner.
    with subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--quiet"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    ) as done:  # fmt: skip
        assert done.stdout is not None
        lines = [done.stdout.readline() for _ in range(6)]
        done.kill()
    state = tmp_path / ".ideogram-mock" / "state.db"
    assert f"ideogram-mock: state in sqlite:///{state}\n" in lines
    assert state.exists()


def test_sigterm_finishes_the_requests_in_flight_before_it_stops(
    tmp_path: Path, servers: list[Served]
) -> None:
    server = Served(f"sqlite:///{tmp_path}/state.db", tmp_path)
    servers.append(server.start())
    slow = {"endpoint": "credit", "kind": "latency", "latencyMs": 1500, "times": 1}
    assert server.post("/_mock/faults", json=slow).status_code == 201
    answers: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: answers.append(server.get("/api/v1/chat/credit", headers=KEY))
    )
    caller.start()
    time.sleep(0.5)  # the call is in flight, held by the latency fault
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    caller.join(10)
    assert [a.json()["code"] for a in answers] == [200]
    # uvicorn stops cleanly, then ends by the signal it was sent (as supervisors expect).
    assert server.proc.wait(10) in (0, -signal.SIGTERM)
    server.stop()


def test_workers_end_with_their_supervisor_even_when_it_is_killed(
    tmp_path: Path, servers: list[Served]
) -> None:
    server = Served(f"sqlite:///{tmp_path}/state.db", tmp_path, ("--workers", "2"))
    servers.append(server.start())
    workers = _workers(server)
    assert len(workers) == 2
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)  # no orphan holds the port or the store
