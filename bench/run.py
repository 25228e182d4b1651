"""Benchmarks: figures and ratios against baselines measured in the same run. Never asserts.

python -m bench.run            # everything (needs wrk for the HTTP part)
python -m bench.run --quick    # small counts, for a smoke run
python -m bench.run --only memory,latency
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
import respx

from ideogram_mock.core.engine import Fake
from ideogram_mock.providers.kie.api import order_of
from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.settings import Settings

if TYPE_CHECKING:
    from ideogram_mock.testing.inprocess import KieMock

ROOT = Path(__file__).resolve().parent.parent
SEED_BODY = json.loads((ROOT / "fixtures" / "seed" / "create_task_character.json").read_text())
KEY = "bench"
Results = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_up(url: str, deadline_s: float = 15.0) -> float:
    started = time.perf_counter()
    while True:
        try:
            httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}, timeout=1)
            return time.perf_counter() - started
        except httpx.TransportError:
            if time.perf_counter() - started > deadline_s:
                raise
            time.sleep(0.01)


def _start(
    cmd: list[str], env: dict[str, str] | None = None, pin: bool = True
) -> subprocess.Popen[bytes]:
    core = ["taskset", "-c", "0"] if pin and shutil.which("taskset") else []
    return subprocess.Popen(
        [*core, *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _stop_all(stops: list[Callable[[], None]]) -> None:
    """Stop every server, even when stopping one of them fails (then raise the first error)."""
    errors = []
    for stop in stops:
        try:
            stop()
        except Exception as exc:  # the others must still be stopped
            errors.append(exc)
    if errors:
        raise errors[0]


class WrkRun(NamedTuple):
    rps: float
    requests: int
    errors: int  # socket errors (connect, read, write, timeout) and non-2xx answers
    kinds: dict[str, int]  # the errors by kind (those wrk saw: connect, …, non2xx)


def _wrk_run(
    url: str,
    seconds: int,
    script: str | None = None,
    connections: int = 32,
    threads: int = 1,
    pin: bool = True,
    timeout_s: float = 2.0,
    auth: str = f"Authorization: Bearer {KEY}",
) -> WrkRun:
    core = ["taskset", "-c", "1"] if pin and shutil.which("taskset") else []
    cmd = [*core, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    cmd += [f"--timeout={timeout_s:g}s"]
    cmd += ["-H", auth]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not match or not total:
        raise RuntimeError(f"wrk gave no figure:\n{out}")
    kinds = {k: int(n) for k, n in re.findall(r"(connect|read|write|timeout) (\d+)", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        kinds["non2xx"] = int(non2xx.group(1))
    kinds = {k: n for k, n in kinds.items() if n}
    return WrkRun(float(match.group(1)), int(total.group(1)), sum(kinds.values()), kinds)


def _wrk(url: str, seconds: int, script: str | None = None, **options: Any) -> float:
    return _warned(_wrk_run(url, seconds, script, **options), url).rps


def _warned(run: WrkRun, url: str) -> WrkRun:
    if run.errors:
        print(f"  (wrk reported {run.errors} errors on {url})", file=sys.stderr)
    return run


def _alternating(measures: dict[str, Callable[[], float]], rounds: int = 4) -> dict[str, float]:
    """Each measure's mean over `rounds` rounds (an even number: each measure then runs as
    often early in a round as late), the measures taken in turn within a round and in reverse
    order every other round: a shared machine's slow spells fall on all of them alike (what
    is compared is taken back to back, never minutes apart)."""
    if rounds % 2:
        raise ValueError(f"rounds must be even, not {rounds}")
    taken: dict[str, list[float]] = {name: [] for name in measures}
    order = list(measures)
    for round_ in range(rounds):
        for name in order[:: -1 if round_ % 2 else 1]:
            taken[name].append(measures[name]())
    return {name: statistics.fmean(values) for name, values in taken.items()}


def bench_http(seconds: int, rounds: int = 4) -> Results:
    """Throughput of recordInfo (logged, and with the log off), createTask, a Segmind v2 status
    poll and a Scenario job poll against bare starlette routes answering the same number of
    bytes. The servers run side by side on one core; the runs, `seconds` each, alternate
    (see `_alternating`)."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed (make bench installs it: apt-get install wrk)"}
    # No callBackUrl here: with time scale 0 every task would be a delivery competing for the
    # core; the memory bench keeps the seed's callback.
    body = json.dumps({k: v for k, v in SEED_BODY.items() if k != "callBackUrl"})
    auth = {"Authorization": f"Bearer {KEY}"}
    script, distinct = _create_script(), _create_script(distinct=True)
    running: list[Callable[[], None]] = []
    try:
        fake = _FakeServer("--store", "memory")
        running.append(fake.stop)
        quiet = _FakeServer("--store", "memory", "--quiet")
        running.append(quiet.stop)
        create_url = f"{fake.base}/api/v1/jobs/createTask"
        record_url = fake.record_url()
        record = httpx.get(record_url, headers=auth)
        create_answer = httpx.post(create_url, content=body, headers=auth)
        sizes = {"record": len(record.content), "create": len(create_answer.content)}
        polls = _other_polls(fake.base)
        sizes.update({name: size for name, (_, _, size) in polls.items()})
        base_port = _free_port()
        baseline = _start(
            [sys.executable, "-m", "uvicorn", "bench.apps:baseline_app", "--factory",
             "--port", str(base_port), "--log-level", "warning", "--no-access-log"],
            env={"BENCH_GET_BYTES": str(sizes["record"]),
                 "BENCH_POST_BYTES": str(sizes["create"]),
                 "BENCH_MORE_GET_BYTES": ",".join(str(size) for _, _, size in polls.values())},
        )  # fmt: skip
        running.append(lambda: _stop(baseline))
        bare = f"http://127.0.0.1:{base_port}"
        _wait_until_up(f"{bare}/get")
        # The same bare app on the fake's own server (one write per answer): the app's cost
        # alone, beside the target's baseline (reported, no target).
        same_port = _free_port()
        same_server = _start(
            [sys.executable, "-m", "bench.apps", str(same_port)],
            env={"BENCH_GET_BYTES": str(sizes["record"])},
        )
        running.append(lambda: _stop(same_server))
        _wait_until_up(f"http://127.0.0.1:{same_port}/get")
        key = f"Authorization: Bearer {KEY}"
        # The polls: name → (the fake's URL, its auth header, the baseline's URL).
        pairs = {
            "recordInfo": (record_url, key, f"{bare}/get"),
            "recordInfo_quiet": (quiet.record_url(), key, f"{bare}/get"),
            "recordInfo_same_server": (record_url, key, f"http://127.0.0.1:{same_port}/get"),
            **{
                name: (url, poll_auth, f"{bare}/get{i}")
                for i, (name, (url, poll_auth, _)) in enumerate(polls.items(), 1)
            },
        }
        codes: set[int] = set()

        def creates(script: str) -> float:
            """The fake's createTask run, and the codes of its last answers (read at once:
            the journal is bounded)."""
            rps = _wrk(create_url, seconds, script, auth=key)
            journal = httpx.get(
                f"{fake.base}/_mock/requests",
                params={"operationId": "createTask", "order": "desc", "limit": 100},
                timeout=30,
            ).json()["requests"]
            codes.update(e["code"] for e in journal)
            return rps

        reads: dict[str, Callable[[], float]] = {}
        for name, (fake_url, fake_auth, base_url) in pairs.items():
            _wrk(fake_url, 1, auth=fake_auth)  # warm both up
            _wrk(base_url, 1)
            reads[f"{name}/fake"] = functools.partial(_wrk, fake_url, seconds, auth=fake_auth)
            reads[f"{name}/base"] = functools.partial(_wrk, base_url, seconds)
        # Every poll before any create, as a fresh server is polled (creates leave their
        # tasks behind), then the creates.
        means = _alternating(reads, rounds)
        _wrk(create_url, 1, script, auth=key)  # warm both up
        _wrk(f"{bare}/post", 1, script)
        means.update(
            _alternating(
                {
                    "createTask/fake": functools.partial(creates, script),
                    "createTask/base": functools.partial(_wrk, f"{bare}/post", seconds, script),
                    # Every prompt different: what a request never sent before costs.
                    "createTask_distinct/fake": functools.partial(creates, distinct),
                    "createTask_distinct/base": functools.partial(
                        _wrk, f"{bare}/post", seconds, distinct
                    ),
                },
                rounds,
            )
        )
    finally:
        _stop_all(running)
        os.unlink(script)
        os.unlink(distinct)
    creates_ = ["createTask", "createTask_distinct"]
    rps = {name: (means[f"{name}/fake"], means[f"{name}/base"]) for name in [*pairs, *creates_]}
    figures: Results = {
        "body_bytes": sizes,
        "rounds": rounds,
        "seconds_per_run": seconds,
        "recordInfo_rps": round(rps["recordInfo"][0]),
        "baseline_get_rps": round(rps["recordInfo"][1]),
        "recordInfo_ratio": round(rps["recordInfo"][0] / rps["recordInfo"][1], 3),
        "recordInfo_target": 0.9,
        "recordInfo_quiet_rps": round(rps["recordInfo_quiet"][0]),
        "recordInfo_quiet_baseline_rps": round(rps["recordInfo_quiet"][1]),
        "recordInfo_quiet_ratio": round(rps["recordInfo_quiet"][0] / rps["recordInfo_quiet"][1], 3),
        # against bare starlette on the fake's own server: what the app costs, the server aside
        "recordInfo_same_server_baseline_rps": round(rps["recordInfo_same_server"][1]),
        "recordInfo_same_server_ratio": round(
            rps["recordInfo_same_server"][0] / rps["recordInfo_same_server"][1], 3
        ),
        "createTask_rps": round(rps["createTask"][0]),
        "baseline_post_rps": round(rps["createTask"][1]),
        "createTask_ratio": round(rps["createTask"][0] / rps["createTask"][1], 3),
        "createTask_target": 0.75,
        "createTask_distinct_rps": round(rps["createTask_distinct"][0]),
        "createTask_distinct_ratio": round(
            rps["createTask_distinct"][0] / rps["createTask_distinct"][1], 3
        ),
        "createTask_codes_seen": sorted(codes),
    }
    for name in polls:
        figures[f"{name}_rps"] = round(rps[name][0])
        figures[f"{name}_baseline_rps"] = round(rps[name][1])
        figures[f"{name}_ratio"] = round(rps[name][0] / rps[name][1], 3)
        figures[f"{name}_target"] = 0.9
    return figures


def _other_polls(base: str) -> dict[str, tuple[str, str, int]]:
    """A Segmind v2 status poll and a Scenario job poll on the running fake: name → (URL,
    auth header, answer size)."""
    segmind_auth = "x-api-key: SG_bench"
    queued = httpx.post(
        f"{base}/v2/ideogram-character",
        json={"prompt": "a knight", "character_reference_image": "http://127.0.0.1:9/me.png"},
        headers=dict([segmind_auth.split(": ")]),
    ).json()
    segmind_url = f"{base}/v2/requests/{queued['request_id']}"
    basic = "Basic " + base64.b64encode(b"bench:secret").decode()
    portrait = (ROOT / "fixtures" / "images" / "portrait.png").read_bytes()
    asset = httpx.post(
        f"{base}/v1/assets",
        json={"name": "portrait.png", "image": base64.b64encode(portrait).decode()},
        headers={"Authorization": basic},
    ).json()["asset"]["id"]
    job = httpx.post(
        f"{base}/v1/generate/custom/model_ideogram-character",
        json={"prompt": "a knight", "characterReferenceImage": asset},
        headers={"Authorization": basic},
    ).json()["job"]["jobId"]
    scenario_url = f"{base}/v1/jobs/{job}"
    polls = {}
    for name, url, auth in (
        ("segmindPoll", segmind_url, segmind_auth),
        ("scenarioPoll", scenario_url, f"Authorization: {basic}"),
    ):
        answer = httpx.get(url, headers=dict([auth.split(": ")]))
        if answer.status_code != 200:
            raise RuntimeError(f"{name} answered {answer.status_code}: {answer.text[:200]}")
        polls[name] = (url, auth, len(answer.content))
    return polls


def _fake(**changes: Any) -> Fake:
    settings = Settings(clock="manual", rate_limit=None, credits=10**15, **changes)
    return make_fake(settings)


async def _fill(fake: Fake, count: int, distinct: bool = False) -> list[str]:
    """`count` tasks of the seed's body (`distinct`: each prompt ends in a number of its own)."""
    account = fake.authenticate(KEY)
    ids = []
    for i in range(count):
        body = SEED_BODY
        if distinct:
            body = {**SEED_BODY, "input": {**SEED_BODY["input"]}}
            body["input"]["prompt"] += f" #{i}"
        task = await fake.create_task(account, order_of(body))
        ids.append(task.task_id)
    return ids


def bench_memory(count: int) -> Results:
    """Bytes retained per stored task (the seed's body, with its callback scheduled), and the
    same with a prompt of its own per task (a request sent again is kept once)."""
    figures: Results = {"tasks": count}
    for label, distinct in (("", False), ("distinct_", True)):
        fake = _fake()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        ids = asyncio.run(_fill(fake, count, distinct))
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        ids_bytes = sys.getsizeof(ids) + sum(sys.getsizeof(i) for i in ids)
        figures[f"{label}bytes_per_task"] = round((after - before - ids_bytes) / count)
        del fake, ids
    figures["target_bytes"] = 1024
    return figures


async def _record_latency(fake: Fake, ids: list[str], calls: int) -> float:
    """Median µs of one recordInfo through the ASGI app (no socket, no client library)."""
    app = create_app(fake=fake)
    rng = random.Random(1)
    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"host", b"127.0.0.1")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    samples = []
    for i in range(calls):
        task_id = rng.choice(ids)
        scope = {
            "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/api/v1/jobs/recordInfo", "raw_path": b"/api/v1/jobs/recordInfo",
            "query_string": f"taskId={task_id}".encode(), "headers": headers,
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1), "root_path": "",
            "app": app,
        }  # fmt: skip
        started = time.perf_counter()
        await app(scope, receive, send)
        samples.append(time.perf_counter() - started)
        if i == 0 and b'"code":200' not in sent[-1].get("body", b""):
            raise RuntimeError(f"recordInfo did not answer 200: {sent[-1]}")
        sent.clear()
    return statistics.median(samples) * 1e6


def bench_latency(big: int, small: int, calls: int) -> Results:
    """recordInfo latency with `big` tasks stored against the same with `small`. The tasks are
    still running: an ended task's answer is kept once rendered (a few thousand of them), which
    would favour the small store for a reason other than its size."""
    stores = {}
    for count in (small, big):
        fake = _fake()
        ids = asyncio.run(_fill(fake, count))
        fake.clock.advance(5)
        stores[count] = (fake, ids)
    # Alternate the two in rounds, so a change in the machine's load hits both alike.
    rounds: dict[int, list[float]] = {small: [], big: []}
    for _ in range(5):
        for count, (fake, ids) in stores.items():
            rounds[count].append(asyncio.run(_record_latency(fake, ids, calls // 5)))
    figures = {count: statistics.median(values) for count, values in rounds.items()}
    listing = asyncio.run(_task_list_ms(stores[big][0]))
    return {
        f"median_us_{small}": round(figures[small], 1),
        f"median_us_{big}": round(figures[big], 1),
        "ratio": round(figures[big] / figures[small], 3),
        "target_ratio_at_most": 1.10,
        # The inspector's first page: newest 50 of every task stored.
        f"task_list_ms_{big}": round(listing, 1),
        "target_task_list_ms": 250.0,
    }


async def _task_list_ms(fake: Fake, calls: int = 5) -> float:
    """Median ms of GET /_mock/tasks?order=desc&limit=50 (what the inspector asks first)."""
    app = create_app(fake=fake)
    samples = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        for _ in range(calls):
            started = time.perf_counter()
            answer = await client.get("/_mock/tasks", params={"order": "desc", "limit": 50})
            samples.append(time.perf_counter() - started)
            if len(answer.json()["tasks"]) != 50:
                raise RuntimeError(f"the task list did not answer a page: {answer.text[:200]}")
    return statistics.median(samples) * 1000


def bench_startup(runs: int) -> Results:
    """Seconds from process start to the first answered request: the fake vs bare starlette."""

    def measure(cmd: list[str], url: str, env: dict[str, str] | None = None) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
            try:
                _wait_until_up(url)
                times.append(time.perf_counter() - started)
            finally:
                _stop(proc)
        return statistics.median(times)

    port = _free_port()
    fake = measure(
        [sys.executable, "-m", "ideogram_mock", "serve", "--port", str(port), "--store", "memory"],
        f"http://127.0.0.1:{port}/api/v1/chat/credit",
    )
    port = _free_port()
    bare = measure(
        [sys.executable, "-m", "uvicorn", "bench.apps:baseline_app", "--factory",
         "--port", str(port), "--log-level", "warning"],
        f"http://127.0.0.1:{port}/get",
    )  # fmt: skip
    return {
        "fake_s": round(fake, 3),
        "bare_starlette_s": round(bare, 3),
        "ratio": round(fake / bare, 2),
        "target_s": 1.0,
        "target_ratio": 2.0,
    }


LIFECYCLE_BODY = {
    "model": "ideogram/character",
    "input": {"prompt": "a knight", "reference_image_urls": ["https://cdn.example.com/me.png"]},
}


async def _lifecycle_batch(
    http: httpx.AsyncClient, count: int, mock: KieMock | None, durations: list[float]
) -> None:
    """`count` lifecycles (create → poll → advance → poll → download), appending the seconds
    each took: served by the fake in-process when `mock` is given (kie_mock's machinery), else,
    as the baseline, by the respx routes of `_baseline_router` with fixed answers."""
    for _ in range(count):
        started = time.perf_counter()
        created = await http.post("https://api.kie.ai/api/v1/jobs/createTask", json=LIFECYCLE_BODY)
        task_id = created.json()["data"]["taskId"]
        params = {"taskId": task_id}
        await http.get("https://api.kie.ai/api/v1/jobs/recordInfo", params=params)
        if mock is not None:
            mock.advance(60)  # as users write it, inside an async test: past the end
        record = await http.get("https://api.kie.ai/api/v1/jobs/recordInfo", params=params)
        data = record.json()["data"]
        url = (
            json.loads(data["resultJson"])["resultUrls"][0]
            if mock is not None
            else "https://api.kie.ai/files/x.png"
        )
        body = (await http.get(url)).content
        durations.append(time.perf_counter() - started)
        if mock is not None and not body.startswith(b"\x89PNG"):
            raise RuntimeError("the lifecycle did not download a PNG")


def _baseline_router() -> respx.MockRouter:
    """The same five requests answered by plain respx routes returning constant bodies."""
    router = respx.MockRouter(assert_all_called=False)
    router.post("https://api.kie.ai/api/v1/jobs/createTask").respond(
        json={"code": 200, "msg": "success", "data": {"taskId": "0" * 32}}
    )
    router.get("https://api.kie.ai/api/v1/jobs/recordInfo").respond(
        json={"code": 200, "msg": "success", "data": {"state": "success", "resultJson": "{}"}}
    )
    router.get("https://api.kie.ai/files/x.png").respond(content=b"\x89PNG fixed")
    return router


async def _lifecycles(count: int, batch: int = 50) -> tuple[list[float], list[float]]:
    """Seconds per lifecycle, served by the fake and by the baseline, `count` of each, in
    alternating batches of `batch`: a shared machine's slow spells fall on both alike."""
    from ideogram_mock.testing.inprocess import KieMock

    fake: list[float] = []
    base: list[float] = []
    mock = KieMock(Settings(clock="manual", rate_limit=None, credits=10**15))
    router = _baseline_router()
    try:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
            while len(fake) < count:
                n = min(batch, count - len(fake))
                mock.start()
                try:
                    await _lifecycle_batch(http, n, mock, fake)
                finally:
                    mock.stop()
                with router:
                    await _lifecycle_batch(http, n, None, base)
    finally:
        mock.close()
    return fake, base


def bench_lifecycle(count: int) -> Results:
    """kie_mock's full lifecycle: median, and `count` of them in a row, against the baseline
    (measured in batches that alternate with the fake's)."""
    asyncio.run(_lifecycles(20))  # warm up imports and caches of code paths
    fake, base = asyncio.run(_lifecycles(count))
    return {
        "lifecycles": count,
        "median_ms": round(statistics.median(fake) * 1000, 3),
        "target_median_ms": 1.0,
        "total_s": round(sum(fake), 3),
        "target_total_s_per_1000": 1.5,
        "baseline_respx_median_ms": round(statistics.median(base) * 1000, 3),
        "ratio_to_baseline": round(statistics.median(fake) / statistics.median(base), 2),
        "target_ratio_to_baseline": 1.2,
    }


PLUGIN_TESTS = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_fixture(i, {fixture}):
    pass
"""


KITS = ("kie", "segmind", "scenario")


def bench_kit(max_examples: int | None = None) -> Results:
    """The whole in-process contract kit, every provider's, in one pytest run as a user
    starts it: its seconds, and its exit code (a kit that fails has no figure worth having)."""
    packages = [f"ideogram_mock.kit.{provider}" for provider in KITS]
    env = dict(os.environ)
    # In-process, with the kit's own number of examples, whatever the shell says.
    for name in ("CONTRACT_URL", "KIT_TARGET", "KIT_MAX_EXAMPLES"):
        env.pop(name, None)
    if max_examples is not None:
        env["KIT_MAX_EXAMPLES"] = str(max_examples)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--pyargs", *packages, "-p", "no:cacheprovider",
             "-q"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        code, tail = done.returncode, done.stdout.strip().splitlines()[-1:]
    except subprocess.TimeoutExpired:
        code, tail = -1, ["timed out after 600 s"]
    return {
        "providers": list(KITS),
        "seconds": round(time.perf_counter() - started, 1),
        "target_seconds": 60,
        "exit_code": code,  # -1: timed out; below: killed by a signal
        "passed": int(code == 0),
        "target_passed": 1,
        "summary": tail[0] if tail else "",
    }


def bench_plugin_setup(tests: int) -> Results:
    """ms per test that kie_mock's set-up and reset add: pytest on `tests` trivial tests with
    the fixture against the same tests without it, each in its own process."""

    def run(fixture: str) -> float:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "test_setup.py"
            path.write_text(PLUGIN_TESTS.format(n=tests, fixture=fixture or "request"))
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                capture_output=True,
                text=True,
                cwd=folder,
                timeout=600,
            )
            elapsed = time.perf_counter() - started
            if result.returncode != 0:
                raise RuntimeError(result.stdout[-2000:])
            return elapsed

    plain = min(run("") for _ in range(2))
    with_fixture = min(run("kie_mock") for _ in range(2))
    return {
        "tests": tests,
        "per_test_ms": round((with_fixture - plain) / tests * 1000, 3),
        "target_per_test_ms": 5.0,
        "plain_run_s": round(plain, 2),
        "kie_mock_run_s": round(with_fixture, 2),
    }


def _rss_kb(pid: int) -> int:
    """A process's resident set (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class _FakeServer:
    """`ideogram-mock serve` in a process of its own (pinned to core 0 unless `pin` is off),
    with the flags the HTTP figures use: no rate limit, credits without end, instant tasks."""

    def __init__(self, *flags: str, pin: bool = True) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "ideogram_mock", "serve", "--port", str(self.port),
               "--rate-limit", "off", "--credits", "1000000000000", "--time-scale", "0",
               *flags]  # fmt: skip
        self.proc = _start(cmd, pin=pin)
        try:
            _wait_until_up(f"{self.base}/api/v1/chat/credit")
        except BaseException:
            self.stop()  # a server that never came up is not left running
            raise

    def record_url(self) -> str:
        """A finished task's recordInfo URL (one task is created for it)."""
        body = {k: v for k, v in SEED_BODY.items() if k != "callBackUrl"}
        created = httpx.post(
            f"{self.base}/api/v1/jobs/createTask", json=body,
            headers={"Authorization": f"Bearer {KEY}"}, timeout=10,
        ).json()  # fmt: skip
        url = f"{self.base}/api/v1/jobs/recordInfo?taskId={created['data']['taskId']}"
        record = httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()
        if record["data"]["state"] != "success":  # instant tasks: --time-scale 0
            raise RuntimeError(f"the task has not finished: {record}")
        return url

    def stop(self) -> None:
        _stop(self.proc)


def _create_script(distinct: bool = False) -> str:
    """A wrk script that POSTs the seed's createTask body (no callback); `distinct`: each
    request's prompt ends in a tag of its own (the run's, and a count), so no two requests
    are the same (the fake keeps a request sent again once: see `pack_request`)."""
    body = json.dumps({k: v for k, v in SEED_BODY.items() if k != "callBackUrl"})
    script = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    if distinct:
        prompt = json.dumps(SEED_BODY["input"]["prompt"])
        head, tail = body.split(prompt)
        script += (
            f"local head, tail = {json.dumps(head + prompt[:-1])}, {json.dumps(chr(34) + tail)}\n"
            "math.randomseed(os.time())\n"
            'local run, counter = os.time() .. "-" .. math.random(1000000000), 0\n'
            "request = function()\n  counter = counter + 1\n"
            '  return wrk.format(nil, nil, nil, head .. " #" .. run .. "-" .. counter .. tail)\n'
            "end\n"
        )
    else:
        script += f"wrk.body = {json.dumps(body)}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    return lua.name


def bench_stores(seconds: int, rounds: int = 4) -> Results:
    """recordInfo and createTask throughput per store, as ratios to memory in the same run
    (the servers side by side, their runs alternating: see `_alternating`)."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed"}
    from ideogram_mock.testing.redis_server import redis_server

    script = _create_script()
    figures: Results = {}
    try:
        with tempfile.TemporaryDirectory() as folder, redis_server() as redis_url:
            urls = {"memory": "memory", "sqlite": f"sqlite:///{folder}/state.db",
                    "redis": redis_url}  # fmt: skip
            servers: list[_FakeServer] = []
            try:  # (the servers stop before their store's folder and Redis go)
                reads: dict[str, Callable[[], float]] = {}
                writes: dict[str, Callable[[], float]] = {}
                for kind, url in urls.items():
                    server = _FakeServer("--store", url)
                    servers.append(server)
                    record = server.record_url()
                    _wrk(record, 1)
                    reads[f"{kind}_recordInfo_rps"] = functools.partial(_wrk, record, seconds)
                    create = f"{server.base}/api/v1/jobs/createTask"
                    writes[f"{kind}_createTask_rps"] = functools.partial(
                        _wrk, create, seconds, script
                    )
                # Side by side, alternating: the ratios to memory compare runs back to back;
                # every read before any create, as in a fresh store.
                for measures in (reads, writes):
                    taken = _alternating(measures, rounds)
                    figures.update({k: round(v) for k, v in taken.items()})
            finally:
                _stop_all([server.stop for server in servers])
    finally:
        os.unlink(script)
    for kind in ("sqlite", "redis"):
        for op in ("recordInfo", "createTask"):
            ratio = figures[f"{kind}_{op}_rps"] / figures[f"memory_{op}_rps"]
            figures[f"{kind}_{op}_ratio"] = round(ratio, 3)
    figures["sqlite_recordInfo_target"] = 0.5
    figures["redis_recordInfo_target"] = 0.3
    return figures


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants, those that
    ended and were waited for included (a worker uvicorn restarted), read from Linux's /proc
    (0.0 where there is none)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[int]] = {}
    used: dict[int, int] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        used[int(entry)] = sum(int(n) for n in fields[11:15])  # its own, and its waited-for
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0)
        todo += children.get(current, [])
    return total / ticks


def _client_cpu_s() -> float:
    """CPU seconds of this process's children that have ended (wrk, once it has run)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def workers_ceiling(
    rps_one: float, one_us: float, client_us: float, cores: int, threads: int = 2
) -> float:
    """The best `ratio` 2 workers could show against one worker's `rps_one` if a request cost
    each of them what it costs one worker (`one_us` of CPU) and `client_us` of wrk's: no more
    than every core can serve with wrk on them too, than 2 workers on a core each, or than
    wrk's `threads`. 2 workers that waste CPU (on each other's locks, say) stay below it."""
    best = min(cores / (one_us + client_us), 2 / one_us, threads / client_us) * 1e6
    return best / rps_one


def bench_workers(seconds: int, rounds: int = 4) -> Results:
    """recordInfo throughput of 2 workers against 1, each on an SQLite file of its own (not
    pinned: the workers and wrk share this machine's cores; the two servers side by side, their
    runs alternating: see `_alternating`). It also measures the CPU each request costs the
    server and wrk, and so the ceiling of the ratio on this machine (`workers_ceiling`: wrk
    shares the cores) and the share of it the 2 workers reach."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed"}
    figures: Results = {}
    costs: dict[int, list[tuple[float, float]]] = {1: [], 2: []}  # (server, wrk) µs/request

    def measured(workers: int, server: _FakeServer, url: str) -> float:
        server_s, client_s = _tree_cpu_s(server.proc.pid), _client_cpu_s()
        run = _warned(_wrk_run(url, seconds, connections=64, threads=2, pin=False), url)
        if run.requests:
            server_s = _tree_cpu_s(server.proc.pid) - server_s
            client_s = _client_cpu_s() - client_s
            costs[workers].append((server_s / run.requests * 1e6, client_s / run.requests * 1e6))
        return run.rps

    with tempfile.TemporaryDirectory() as folder:
        servers: list[_FakeServer] = []
        try:  # (the servers stop before their folder goes)
            measures: dict[str, Callable[[], float]] = {}
            for workers in (1, 2):
                store = f"sqlite:///{folder}/state-{workers}.db"
                server = _FakeServer("--store", store, "--workers", str(workers), pin=False)
                servers.append(server)
                record = server.record_url()
                _wrk(record, 1, connections=64, threads=2, pin=False)
                measures[f"workers_{workers}_rps"] = functools.partial(
                    measured, workers, server, record
                )
            figures.update({k: round(v) for k, v in _alternating(measures, rounds).items()})
        finally:
            _stop_all([server.stop for server in servers])
    figures["ratio"] = round(figures["workers_2_rps"] / figures["workers_1_rps"], 3)
    figures["target_ratio"] = 1.6
    # The cores this process may run on (its affinity), which its children share.
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    figures["cores"] = cores = len(usable) if usable else os.cpu_count() or 1
    if costs[1] and costs[2]:
        for workers, runs in costs.items():
            figures[f"workers_{workers}_server_us_per_request"] = round(
                statistics.mean(server for server, _ in runs), 1
            )
            figures[f"workers_{workers}_wrk_us_per_request"] = round(
                statistics.mean(client for _, client in runs), 1
            )
        ceiling = workers_ceiling(
            figures["workers_1_rps"],
            figures["workers_1_server_us_per_request"],
            figures["workers_2_wrk_us_per_request"],
            cores,
        )
        figures["ceiling_ratio"] = round(ceiling, 3)
        figures["share_of_ceiling"] = round(figures["ratio"] / ceiling, 3)
    return figures


SOAK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  if counter % 10 == 0 then
    return wrk.format("POST", "/api/v1/jobs/createTask",
      {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench"}, BODY)
  end
  return wrk.format("GET", RECORD)
end
"""


def bench_soak(seconds: int) -> Results:
    """1,000 connections at once for `seconds` on `serve`'s default store (SQLite), one request
    in ten a createTask: errors (a request unanswered in 5 s counts as one), and the server's
    RSS after warm-up against at the end."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed"}
    body = json.dumps({k: v for k, v in SEED_BODY.items() if k != "callBackUrl"})
    with tempfile.TemporaryDirectory() as folder:
        server = _FakeServer("--store", f"sqlite:///{folder}/state.db", "--quiet")
        try:
            record = server.record_url()
            path = record.removeprefix(server.base)
            lua = Path(folder) / "soak.lua"
            lua.write_text(
                f"BODY = {json.dumps(body)}\nRECORD = {json.dumps(path)}\n" + SOAK_SCRIPT
            )
            # One run (a second storm of 1,000 connects would measure the storm); the RSS is
            # sampled once warmed up (a sixth of the way in) and just before the end. A client's
            # patience: httpx's default timeout of 5 s (wrk's own is 2 s).
            rss: list[int] = []

            def sample() -> None:
                time.sleep(max(2.0, seconds / 6))
                rss.append(_rss_kb(server.proc.pid))
                time.sleep(max(0.0, seconds - max(2.0, seconds / 6) - 0.5))
                rss.append(_rss_kb(server.proc.pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            run = _wrk_run(record, seconds, str(lua), connections=1000, timeout_s=5)
            sampler.join()
            rss_warm, rss_end = rss
        finally:
            server.stop()
    return {
        "connections": 1000,
        "seconds": seconds,
        "requests": run.requests,
        "rps": round(run.rps),
        "errors": run.errors,
        "target_errors": 0,
        "errors_by_kind": run.kinds,
        "rss_after_warmup_mb": round(rss_warm / 1024, 1),
        "rss_end_mb": round(rss_end / 1024, 1),
        "rss_growth_ratio": round(rss_end / rss_warm, 3),
        "target_rss_growth_ratio": 1.1,
    }


def bench_rss(count: int) -> Results:
    """RSS per task in a fresh `serve` process (memory store) over `count` createTask calls
    with the seed's 600-character prompt: kept (no eviction), kept with a prompt of its own
    per task (a request sent again is kept once), and with eviction on (a 1 s retention: old
    tasks go as new ones come)."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed"}
    script, distinct = _create_script(), _create_script(distinct=True)
    figures: Results = {}
    try:
        for label, flags, body in (
            ("kept", (), script),
            ("kept_distinct", (), distinct),  # a prompt of its own per task
            ("evicting", ("--retention", "1"), script),
        ):
            server = _FakeServer("--store", "memory", "--quiet", *flags)
            try:
                url = f"{server.base}/api/v1/jobs/createTask"
                before = _rss_kb(server.proc.pid)
                created = 0
                deadline = time.monotonic() + 300  # bounded, whatever the machine
                while created < count and time.monotonic() < deadline:
                    created += _wrk_run(url, 2, body).requests
                after = _rss_kb(server.proc.pid)
                tasks = httpx.get(f"{server.base}/health", timeout=30).json()["tasks"]
            finally:
                server.stop()
            figures[f"{label}_created"] = created
            figures[f"{label}_stored"] = tasks
            # Per task created: with eviction on, what stays bounded is the total.
            figures[f"{label}_rss_bytes_per_task"] = round((after - before) * 1024 / created)
            figures[f"{label}_rss_growth_mb"] = round((after - before) / 1024, 1)
    finally:
        os.unlink(script)
        os.unlink(distinct)
    figures["target_kept_bytes_per_task"] = 1024
    return figures


# (suite, figure, target, "min" or "max"): the figure must reach at least / stay at most the target.
TARGETS = (
    ("http", "recordInfo_ratio", "recordInfo_target", "min"),
    ("http", "createTask_ratio", "createTask_target", "min"),
    ("http", "segmindPoll_ratio", "segmindPoll_target", "min"),
    ("http", "scenarioPoll_ratio", "scenarioPoll_target", "min"),
    ("memory", "bytes_per_task", "target_bytes", "max"),
    ("memory", "distinct_bytes_per_task", "target_bytes", "max"),
    ("latency", "ratio", "target_ratio_at_most", "max"),
    ("latency", "task_list_ms_100000", "target_task_list_ms", "max"),
    ("startup", "fake_s", "target_s", "max"),
    ("startup", "ratio", "target_ratio", "max"),
    ("lifecycle", "median_ms", "target_median_ms", "max"),
    ("lifecycle", "total_s", "target_total_s_per_1000", "max"),
    ("lifecycle", "ratio_to_baseline", "target_ratio_to_baseline", "max"),
    ("plugin", "per_test_ms", "target_per_test_ms", "max"),
    ("kit", "seconds", "target_seconds", "max"),
    ("kit", "passed", "target_passed", "min"),
    ("stores", "sqlite_recordInfo_ratio", "sqlite_recordInfo_target", "min"),
    ("stores", "redis_recordInfo_ratio", "redis_recordInfo_target", "min"),
    ("workers", "ratio", "target_ratio", "min"),
    ("soak", "errors", "target_errors", "max"),
    ("soak", "rss_growth_ratio", "target_rss_growth_ratio", "max"),
    ("rss", "kept_rss_bytes_per_task", "target_kept_bytes_per_task", "max"),
    ("rss", "kept_distinct_rss_bytes_per_task", "target_kept_bytes_per_task", "max"),
)


def verdicts(name: str, figures: Results) -> list[str]:
    """One line per target of a suite: met, or MISSED with the figure and the target."""
    lines = []
    for suite, figure, target, sense in TARGETS:
        if suite != name or figure not in figures or target not in figures:
            continue
        value, goal = figures[figure], figures[target]
        met = value >= goal if sense == "min" else value <= goal
        bound = "≥" if sense == "min" else "≤"
        mark = "met   " if met else "MISSED"
        lines.append(f"  {mark} {suite}.{figure} = {value} (target {bound} {goal})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument(
        "--only",
        default="",
        help="comma list: http,memory,latency,startup,lifecycle,plugin,kit,stores,workers,soak,rss",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    quick = args.quick
    chosen = {s for s in args.only.split(",") if s}
    suites: dict[str, Callable[[], Results]] = {
        "http": lambda: bench_http(1 if quick else 2, 2 if quick else 4),
        "memory": lambda: bench_memory(2_000 if quick else 100_000),
        "latency": lambda: bench_latency(2_000 if quick else 100_000, 100, 500 if quick else 5_000),
        "startup": lambda: bench_startup(1 if quick else 5),
        "lifecycle": lambda: bench_lifecycle(100 if quick else 1000),
        "plugin": lambda: bench_plugin_setup(50 if quick else 500),
        "kit": lambda: bench_kit(6 if quick else None),
        "stores": lambda: bench_stores(1 if quick else 2, 2 if quick else 4),
        "workers": lambda: bench_workers(1 if quick else 3, 2 if quick else 4),
        "soak": lambda: bench_soak(6 if quick else 60),
        "rss": lambda: bench_rss(20_000 if quick else 200_000),
    }
    results: Results = {}
    for name, run in suites.items():
        if chosen and name not in chosen:
            continue
        started = time.perf_counter()
        results[name] = run()
        print(f"{name:8} ({time.perf_counter() - started:5.1f} s)  {json.dumps(results[name])}")
        for line in verdicts(name, results[name]):
            print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
