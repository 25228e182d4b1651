"""Hardening that keeps the fake honest under hostile or careless use: a bounded clock, paging,
an optional admin token, unforgeable links, and input downloads that stay on allowed hosts,
within a redirect bound and a time budget."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import ClientDisconnect

from ideogram_mock.core.hosts import HostPolicy
from ideogram_mock.server.app import make_fake
from ideogram_mock.server.cli import _loopback
from ideogram_mock.server.httpio import BodyTimeout, BodyWatch, read_body
from ideogram_mock.server.outbound import HttpFetcher
from ideogram_mock.settings import Settings
from ideogram_mock.testing.handle import HandleError
from ideogram_mock.testing.inprocess import KieMock
from ideogram_mock.testing.live import running_server
from tests.conftest import Kie, make_settings

pytestmark = pytest.mark.anyio


async def test_the_clock_refuses_to_pass_its_horizon_and_stays_usable(kie: Kie) -> None:
    for _ in range(3):
        assert (
            await kie.control("POST", "/_mock/clock/advance", json={"seconds": 31_536_000})
        ).status_code == 200
    fake = kie.fake
    with pytest.raises(Exception, match="cannot go past 2200"):
        await fake.advance(200 * 31_536_000)
    clock = await kie.control("GET", "/_mock/clock")
    assert clock.status_code == 200
    assert clock.json()["now"].startswith("2028-12-31")  # three years on (one a leap year)


def test_the_handle_refuses_impossible_advances_with_its_own_error() -> None:
    mock = KieMock(make_settings())
    try:
        for seconds in (float("nan"), float("inf"), -1.0, 10.0**12):
            with pytest.raises(HandleError):
                mock.advance(seconds)
        assert mock.advance(1) == 0
    finally:
        mock.close()


async def test_task_list_pages_with_limit_offset_and_order(kie: Kie) -> None:
    ids = [await kie.create_id() for _ in range(5)]
    first = (await kie.control("GET", "/_mock/tasks", params={"limit": 2})).json()
    assert (first["count"], first["next"]) == (5, 2)
    assert [t["taskId"] for t in first["tasks"]] == ids[:2]
    last = (await kie.control("GET", "/_mock/tasks", params={"limit": 2, "offset": 4})).json()
    assert ([t["taskId"] for t in last["tasks"]], last["next"]) == (ids[4:], None)
    newest = (await kie.control("GET", "/_mock/tasks", params={"order": "desc", "limit": 1})).json()
    assert newest["tasks"][0]["taskId"] == ids[-1]
    journal = (await kie.control("GET", "/_mock/requests", params={"limit": 3})).json()
    assert (len(journal["requests"]), journal["count"], journal["next"]) == (3, 5, 3)
    refused = await kie.control("GET", "/_mock/tasks", params={"limit": 0})
    assert refused.status_code == 422


@pytest.mark.parametrize("settings", [make_settings(admin_token="s3cret")])
async def test_the_admin_token_guards_every_control_call_and_nothing_else(kie: Kie) -> None:
    assert (await kie.control("GET", "/_mock/clock")).status_code == 401
    wrong = await kie.control("GET", "/_mock/tasks", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "admin token" in wrong.json()["error"]
    bearer = await kie.control("GET", "/_mock/clock", headers={"Authorization": "Bearer s3cret"})
    assert bearer.status_code == 200
    header = await kie.control("POST", "/_mock/reset", headers={"X-Admin-Token": "s3cret"})
    assert header.status_code == 200
    task_id = await kie.create_id()  # the provider's own API needs no admin token
    assert (await kie.record(task_id))["code"] == 200


def test_the_cli_knows_which_hosts_are_loopback() -> None:
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost")
    assert not _loopback("0.0.0.0") and not _loopback("192.168.1.4") and not _loopback("::")


async def test_result_links_are_signed_with_a_secret_not_derived_from_the_seed() -> None:
    # Two fakes with the same seed sign the same file differently: nobody can forge a link.
    urls = [make_fake(make_settings()).files.url("t", 0, 10**12) for _ in range(2)]
    assert urls[0] != urls[1]
    fixed = [make_fake(make_settings(signing_key="k")).files.url("t", 0, 10**12) for _ in range(2)]
    assert fixed[0] == fixed[1]


def test_input_downloads_only_reach_allowed_hosts() -> None:
    policy = HostPolicy(("localhost", "127.0.0.0/8", "::1"))
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/a.png",
        "http://example.com/a.png",
        "http://[fe80::1]/a.png",
    ):
        assert not policy.allows(url), url
    assert policy.allows("http://127.0.0.1:9/a.png")


@pytest.fixture
async def odd_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback server that redirects /loop to itself forever, redirects /out to a host that
    is not allowed, and drips /drip one byte a second."""
    hits: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        path = line.split(" ")[1]
        hits.append(path)
        try:
            if path == "/loop":
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n")
            elif path == "/out":
                elsewhere = b"Location: http://10.0.0.1/x\r\n"
                writer.write(b"HTTP/1.1 302 Found\r\n" + elsewhere + b"Content-Length: 0\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                for _ in range(100):
                    writer.write(b"x")
                    await writer.drain()
                    await asyncio.sleep(1)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", hits
        server.close()


async def test_input_downloads_bound_redirects_and_time(odd_server: tuple[str, list[str]]) -> None:
    base, hits = odd_server
    fetch = HttpFetcher(HostPolicy(("127.0.0.0/8",)).allows, redirects=3, budget_s=0.5)
    assert await fetch(f"{base}/loop", 1000) is None
    assert hits.count("/loop") == 4  # the first request and three redirects, no more
    assert await fetch(f"{base}/out", 1000) is None
    assert "/x" not in hits  # the disallowed redirect target is never requested
    started = time.monotonic()
    assert await fetch(f"{base}/drip", 1000) is None
    assert time.monotonic() - started < 3


def _raw(url: str, payload: bytes, then_close: bool = False) -> bytes:
    """Send raw bytes to a live fake; what comes back before it closes (b"" if nothing)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(payload)
        if then_close:
            return b""
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("short", b'Content-Length: 200\r\nContent-Type: application/json\r\n\r\n{"model"'),
        (
            "endless",
            b'Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n5\r\n{"mod\r\n',
        ),
    ],
)
def test_a_body_that_never_fully_arrives_is_dropped_in_time_and_journaled(
    name: str, payload: bytes
) -> None:
    with running_server(Settings(body_timeout_s=0.5, port=0)) as server:
        for path in ("/api/v1/jobs/createTask", "/v2/ideogram-character", "/_mock/faults"):
            started = time.monotonic()
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n".encode()
            answer = _raw(server.url, head + b"x-api-key: k\r\n" + payload)
            assert time.monotonic() - started < 5
            assert answer == b""  # closed without a byte: no error page, no status line
        journal = [e for e in server.fake.requests if e.path != "/_mock/faults"]
        assert [(e.status, e.warning) for e in journal] == [
            (0, "the body did not arrive within 0.5 s")
        ] * 2
        assert httpx.get(f"{server.url}/health").status_code == 200  # and it serves on


def test_a_client_that_leaves_mid_body_is_journaled_as_gone_not_as_a_500() -> None:
    with running_server(Settings(port=0)) as server:
        head = b"POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
        _raw(server.url, head + b'Content-Length: 500\r\n\r\n{"mo', then_close=True)
        deadline = time.monotonic() + 5
        while not list(server.fake.requests) and time.monotonic() < deadline:
            time.sleep(0.02)
        (entry,) = server.fake.requests
        assert (entry.status, entry.warning) == (
            0, "the client disconnected before its request was read"
        )  # fmt: skip


def _messages(*parts: bytes, then: str | None = None) -> tuple[list[bytes], object]:
    """An ASGI receive that hands out `parts` as body messages (the last one final unless
    `then` names a message to follow them); the list records how many were read."""
    read: list[bytes] = []
    queue = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1 or then is not None}
        for i, p in enumerate(parts)
    ]
    if then is not None:
        queue.append({"type": then})

    async def receive() -> dict[str, object]:
        message = queue.pop(0)
        read.append(message.get("body", b""))  # type: ignore[arg-type]
        return message

    return read, receive


def _body_scope(length: int | None = None) -> dict[str, object]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "headers": headers}


def test_a_body_in_several_messages_is_read_whole() -> None:
    _, receive = _messages(b'{"a":', b"", b"1}")
    assert asyncio.run(read_body(_body_scope(), receive, 100, 5)) == b'{"a":1}'  # type: ignore[arg-type]


def test_a_body_past_the_limit_stops_being_read_where_it_passes_it() -> None:
    read, receive = _messages(b"x" * 60, b"x" * 60, b"x" * 60)
    assert asyncio.run(read_body(_body_scope(), receive, 100, 5)) is None  # type: ignore[arg-type]
    assert len(read) == 2
    read, receive = _messages(b"x" * 10)
    assert asyncio.run(read_body(_body_scope(500), receive, 100, 5)) is None  # type: ignore[arg-type]
    assert read == []  # the declared length alone says no


def test_a_client_gone_mid_body_is_a_client_disconnect() -> None:
    _, receive = _messages(b'{"a":', then="http.disconnect")
    with pytest.raises(ClientDisconnect):
        asyncio.run(read_body(_body_scope(), receive, 100, 5))  # type: ignore[arg-type]


async def _stalled_read(watch: BodyWatch, registered: list[bool]) -> str:
    """A body read that never gets its body, under `watch`; `registered` records whether the
    watch knew of the read while it waited. Says how it ended within 0.2 s."""

    async def receive() -> dict[str, object]:
        registered.append(bool(watch._reading))
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ideogram_mock.server.httpio.WATCH", watch)
        try:
            await asyncio.wait_for(read_body(_body_scope(), receive, 100, 0.05), 0.2)
        except BodyTimeout:
            return "timed out"
        except TimeoutError:
            return "still waiting"
    return "read"


def test_a_stalled_body_is_cut_while_any_sweeper_runs_on_its_loop_and_only_then() -> None:
    watch = BodyWatch(period_s=0.01)
    registered: list[bool] = []

    async def scenario() -> list[str]:
        seen = [await _stalled_read(watch, registered)]  # no sweeper: nothing would cut it
        first, second = (asyncio.ensure_future(watch.run()) for _ in range(2))
        await asyncio.sleep(0.02)
        seen.append(await _stalled_read(watch, registered))
        first.cancel()  # one app's lifespan ends; the other app goes on serving
        await asyncio.sleep(0.02)
        seen.append(await _stalled_read(watch, registered))
        second.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        seen.append(await _stalled_read(watch, registered))
        return seen

    assert asyncio.run(scenario()) == ["still waiting", "timed out", "timed out", "still waiting"]
    assert registered == [False, True, True, False]  # a read no sweeper sees is not kept


def test_a_loop_run_in_turn_with_another_on_one_thread_keeps_its_sweeper() -> None:
    watch = BodyWatch(period_s=0.01)
    first, other = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        sweeping = first.create_task(watch.run())
        first.run_until_complete(asyncio.sleep(0.02))
        assert first.run_until_complete(_stalled_read(watch, [])) == "timed out"
        # Another loop on the same thread sweeps for a while, then stops.
        other_sweeping = other.create_task(watch.run())
        other.run_until_complete(asyncio.sleep(0.02))
        other_sweeping.cancel()
        other.run_until_complete(asyncio.gather(other_sweeping, return_exceptions=True))
        assert first.run_until_complete(_stalled_read(watch, [])) == "timed out"
        sweeping.cancel()
        first.run_until_complete(asyncio.gather(sweeping, return_exceptions=True))
    finally:
        first.close()
        other.close()


def test_a_request_head_that_never_fully_arrives_is_closed_and_others_are_served() -> None:
    with running_server(Settings(body_timeout_s=0.5, port=0)) as server:
        host, port = server.url.removeprefix("http://").split(":")
        idle = socket.create_connection((host, int(port)), timeout=10)  # never sends
        trickle = socket.create_connection((host, int(port)), timeout=10)
        trickle.sendall(b"GET /health HTTP/1.1\r\nHo")  # a head that stops halfway
        started = time.monotonic()
        with socket.create_connection((host, int(port)), timeout=10) as busy:  # kept alive
            while time.monotonic() - started < 2.5:  # busy well past the timeout
                busy.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert busy.recv(65536).startswith(b"HTTP/1.1 200")
                time.sleep(0.2)
            for conn in (idle, trickle):
                assert conn.recv(100) == b""  # closed, without a byte
                assert time.monotonic() - started < 5
                conn.close()
            busy.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert busy.recv(65536).startswith(b"HTTP/1.1 200")  # never cut: it moved on
