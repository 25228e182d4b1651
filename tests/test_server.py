"""The fake over a real uvicorn on loopback: callbacks, retries, drops, strict inputs, CLI."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import itertools
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from fixtures.make_images import HERE as IMAGES
from ideogram_mock.testing.live import RunningServer, start_server
from ideogram_mock.testing.receiver import CallbackReceiver
from tests.conftest import CONFORMANCE, assert_conforms, local_body, make_settings, seed

AUTH = {"Authorization": "Bearer k1"}
HMAC_KEY = "whsec-test-key"


def _check(response: httpx.Response) -> None:
    response.read()
    assert_conforms(response)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as r:
        yield r


def _serve(**settings: Any) -> RunningServer:
    return start_server(make_settings(port=0, public_url=None, **settings))


@pytest.fixture
def manual() -> Iterator[RunningServer]:
    running = _serve(webhook_hmac_key=HMAC_KEY, callback_backoff_s=5.0)
    yield running
    running.stop()


def _client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, event_hooks={"response": [_check]}, timeout=10)


def _kie_signature(key: str, task_id: str, timestamp: str) -> str:
    # As docs.kie.ai/common-api/webhook-verification describes it.
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_server_seed_example_verbatim_creates_and_completes(manual: RunningServer) -> None:
    with _client(manual) as client:
        created = client.post(
            "/api/v1/jobs/createTask", json=seed("create_task_character.json"), headers=AUTH
        )
        task_id = created.json()["data"]["taskId"]
        client.post("/_mock/clock/advance", json={"seconds": 60})
        record = client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH)
        assert record.json()["data"]["state"] == "success"
        attempts = client.get("/_mock/callbacks").json()["attempts"]
    # The seed's public callBackUrl is never contacted: only loopback is allowed by default.
    assert len(attempts) == 1
    assert attempts[0]["error"].startswith("blocked")


def test_server_callback_arrives_signed_and_conforming(
    manual: RunningServer, receiver: CallbackReceiver
) -> None:
    body = local_body()
    body["callBackUrl"] = receiver.url
    with _client(manual) as client:
        task_id = client.post("/api/v1/jobs/createTask", json=body, headers=AUTH).json()["data"][
            "taskId"
        ]
        assert client.post("/_mock/clock/advance", json={"seconds": 5}).json()["delivered"] == 0
        assert receiver.received == []
        assert client.post("/_mock/clock/advance", json={"seconds": 60}).json()["delivered"] == 1
    (got,) = receiver.wait_for(1)
    payload = got.json()
    assert payload["code"] == 200
    assert payload["msg"] == "Playground task completed successfully."
    assert payload["data"]["taskId"] == task_id
    assert set(payload["data"]) == {
        "completeTime", "costTime", "createTime", "creditsConsumed", "model", "param",
        "resultJson", "state", "taskId", "updateTime",
    }  # fmt: skip
    assert got.headers["User-Agent"] == "okhttp/3.14.9"
    assert CONFORMANCE.callback_problems(payload, got.headers) == []
    stamp = got.headers["X-Webhook-Timestamp"]
    assert got.headers["X-Webhook-Signature"] == _kie_signature(HMAC_KEY, task_id, stamp)
    assert int(stamp) == payload["data"]["completeTime"] // 1000


def test_server_failure_callback_has_the_live_failure_fields(
    manual: RunningServer, receiver: CallbackReceiver
) -> None:
    body = local_body(prompt="[mock:fail=500] a garden")
    body["callBackUrl"] = receiver.url
    with _client(manual) as client:
        client.post("/api/v1/jobs/createTask", json=body, headers=AUTH)
        client.post("/_mock/clock/advance", json={"seconds": 60})
    payload = receiver.wait_for(1)[0].json()
    assert payload["code"] == 501
    assert payload["msg"] == "Playground task failed."
    assert payload["data"]["failCode"] == "500"
    assert payload["data"]["resultJson"] is None
    assert CONFORMANCE.callback_problems(payload, {"content-type": "application/json"}) == []


def test_server_callback_is_retried_with_backoff_and_journaled() -> None:
    with CallbackReceiver(statuses=[500, 503, 200]) as receiver:
        running = _serve(callback_retries=2, callback_backoff_s=5.0)
        try:
            body = local_body()
            body["callBackUrl"] = receiver.url
            with _client(running) as client:
                client.post("/api/v1/jobs/createTask", json=body, headers=AUTH)
                delivered = client.post("/_mock/clock/advance", json={"seconds": 600}).json()
                attempts = client.get("/_mock/callbacks").json()["attempts"]
        finally:
            running.stop()
    assert delivered["delivered"] == 3
    assert [(a["attempt"], a["status"], a["ok"]) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    gaps = [b["atMs"] - a["atMs"] for a, b in itertools.pairwise(attempts)]
    assert gaps == [5000, 10000]
    assert len(receiver.received) == 3


def test_server_real_clock_delivers_callbacks_in_the_background(receiver: CallbackReceiver) -> None:
    running = _serve(clock="real", time_scale=0.01)
    try:
        body = local_body()
        body["callBackUrl"] = receiver.url
        with _client(running) as client:
            started = time.monotonic()
            answer = client.post("/api/v1/jobs/createTask", json=body, headers=AUTH)
            assert time.monotonic() - started < 5
            task_id = answer.json()["data"]["taskId"]
            got = receiver.wait_for(1, timeout=10)
        assert got[0].json()["data"]["taskId"] == task_id
    finally:
        running.stop()


def test_server_dropped_connection_is_a_transport_error(manual: RunningServer) -> None:
    with _client(manual) as client:
        client.post("/_mock/faults", json={"endpoint": "credit", "kind": "drop"})
        with pytest.raises(httpx.TransportError):
            client.get("/api/v1/chat/credit", headers=AUTH)
        assert client.get("/api/v1/chat/credit", headers=AUTH).json()["code"] == 200
        client.post("/_mock/faults", json={"endpoint": "credit", "kind": "drop"})
        host, port = manual.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                b"GET /api/v1/chat/credit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n"
            )
            assert conn.recv(65536) == b""  # closed without a status line
        entries = client.get("/_mock/requests").json()["requests"]
    assert entries[0]["fault"].endswith(":drop")


@pytest.fixture(scope="module")
def image_host() -> Iterator[str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    handler = functools.partial(Quiet, directory=str(IMAGES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("reference", "image", "mask", "expected"),
    [
        ("portrait.png", None, None, "success"),
        ("portrait.webp", None, None, "success"),
        ("not_an_image.png", None, None, "fail"),
        ("oversized.png", None, None, "fail"),
        ("missing.png", None, None, "fail"),
        ("portrait.jpg", "edit_base.png", "edit_mask.png", "success"),
        ("portrait.jpg", "edit_base.png", "edit_mask_wrong_size.png", "fail"),
    ],
)
def test_server_strict_inputs_fail_tasks_kie_would_refuse(
    image_host: str, reference: str, image: str | None, mask: str | None, expected: str
) -> None:
    running = _serve(fetch_inputs=True)
    try:
        if image is None:
            body = local_body()
        else:
            body = local_body("create_task_edit.json")
            body["input"]["image_url"] = f"{image_host}/{image}"
            body["input"]["mask_url"] = f"{image_host}/{mask}"
        body["input"]["reference_image_urls"] = [f"{image_host}/{reference}"]
        with _client(running) as client:
            task_id = client.post("/api/v1/jobs/createTask", json=body, headers=AUTH).json()[
                "data"
            ]["taskId"]
            client.post("/_mock/clock/advance", json={"seconds": 60})
            data = client.get(
                "/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH
            ).json()["data"]
            view = client.get(f"/_mock/tasks/{task_id}").json()
    finally:
        running.stop()
    assert data["state"] == expected
    if expected == "fail":
        assert (data["failCode"], data["failMsg"]) == (
            "422",
            "Your media file is unavailable, please replace it.",
        )
    elif image is not None:
        assert (view["width"], view["height"]) == (768, 768)


def test_server_cli_serve_prints_its_urls_and_answers() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ideogram_mock", "serve", "--port", "0", "--clock", "manual"],
        cwd=tempfile.mkdtemp(prefix="ideogram-mock-serve-"),  # serve keeps its state there
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        segmind = proc.stdout.readline()
        scenario = proc.stdout.readline()
        control = proc.stdout.readline()
        assert "/api/v1/jobs/createTask" in first
        assert segmind.split()[1:2] == ["segmind"]
        assert segmind.rstrip().endswith("/v1/ideogram-character")
        assert scenario.split()[1:2] == ["scenario"]
        assert "/_mock/clock" in control
        base = first.split()[-1].removesuffix("/api/v1/jobs/createTask")
        assert base.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = httpx.get(f"{base}/api/v1/chat/credit", headers=AUTH, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert answer.json() == {"code": 200, "msg": "success", "data": 100000}
        clock = httpx.get(f"{base}/_mock/clock", timeout=2).json()
        assert clock["mode"] == "manual"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_server_cli_refuses_bad_settings_clearly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ideogram_mock", "serve", "--rate-limit", "0/0s", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "rate limit" in result.stderr or "error" in result.stderr


def test_server_env_variables_configure_the_cli() -> None:
    env = {"IDEOGRAM_MOCK_HTTP_STATUS": "sideways", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "ideogram_mock", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 2
    assert "http_status" in result.stderr
    assert json.dumps is not None


def test_server_cli_refuses_an_unknown_provider_naming_the_choices() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ideogram_mock", "serve", "--provider", "nobody", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "nobody" in result.stderr
    assert "kie" in result.stderr
