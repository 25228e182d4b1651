"""Each answer leaves the server in one write: uvicorn's head and body writes are held and sent
together (one system call, one TCP segment), with nothing lost, reordered or left behind."""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from ideogram_mock.server.accept import EagerServer
from ideogram_mock.server.writes import HeldWrites, one_write
from ideogram_mock.settings import Settings
from ideogram_mock.testing.live import running_server

AUTH = {"Authorization": "Bearer writes-test"}


class _Recording(asyncio.Transport):
    """A transport that notes what it is asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.closing = False
        self.buffered = 7  # bytes the transport has yet to send

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(("writelines", list(list_of_data)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", None))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "peername" else default

    def sent(self) -> bytes:
        out = b""
        for kind, data in self.calls:
            if kind == "write":
                out += data
            elif kind == "writelines":
                out += b"".join(data)
        return out


def _wrapped() -> tuple[_Recording, HeldWrites]:
    """A recording transport and its HeldWrites, on the running loop."""
    real = _Recording()
    return real, HeldWrites(real, asyncio.get_running_loop())


def test_writes_a_head_and_its_body_go_out_in_one_write() -> None:
    async def scenario() -> _Recording:
        real, held = _wrapped()
        held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert real.calls == []  # held until what follows
        held.write(b"ok")
        await asyncio.sleep(0)  # the turn's flush finds nothing left
        return real

    real = asyncio.run(scenario())
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")]


def test_writes_a_lone_write_goes_out_at_the_next_turn_of_the_loop() -> None:
    async def scenario() -> None:
        real, held = _wrapped()
        held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert real.calls == []
        await asyncio.sleep(0)
        assert real.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]
        # and again for the next lone write (a flush is scheduled anew)
        held.write(b"more")
        await asyncio.sleep(0)
        assert real.sent() == b"HTTP/1.1 100 Continue\r\n\r\nmore"

    asyncio.run(scenario())


def test_writes_keep_their_order_whatever_their_number() -> None:
    async def scenario() -> None:
        real, held = _wrapped()
        chunks = [bytes([65 + i]) * (i + 1) for i in range(9)]
        for i, chunk in enumerate(chunks):
            held.write(chunk)
            if i % 4 == 3:
                await asyncio.sleep(0)
        held.writelines([b"-", b"end"])
        await asyncio.sleep(0)
        assert real.sent() == b"".join(chunks) + b"-end"

    asyncio.run(scenario())


def test_writes_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> None:
        closed, held = _wrapped()
        held.write(b"head")  # a dropped connection's head: sent, then the connection closed
        held.close()
        assert closed.calls == [("write", b"head"), ("close", None)]
        await asyncio.sleep(0)  # the scheduled flush sends nothing more
        assert closed.calls == [("write", b"head"), ("close", None)]

        aborted, held = _wrapped()
        held.write(b"head")
        held.abort()
        await asyncio.sleep(0)
        assert aborted.calls == [("abort", None)]

        eof, held = _wrapped()
        held.write(b"last")
        held.write_eof()
        assert eof.calls == [("write", b"last"), ("write_eof", None)]

    asyncio.run(scenario())


def test_writes_what_is_held_goes_as_the_transport_would_once_it_is_closing() -> None:
    async def scenario() -> None:
        lost, held = _wrapped()
        lost.buffered = 0
        held.write(b"head")
        lost.closing = True  # closed with nothing left to send: its connection is lost
        await asyncio.sleep(0)
        assert lost.calls == []  # (the transport would have dropped it as well)

        draining, held = _wrapped()
        draining.buffered = 10  # closing, but still sending what it had
        held.write(b"A")
        draining.closing = True
        await asyncio.sleep(0)
        held.write(b"B")  # written through at once: the transport decides
        held.write(b"C")
        assert draining.calls == [("write", b"A"), ("write", b"B"), ("write", b"C")]

    asyncio.run(scenario())


def test_writes_after_the_end_go_straight_to_the_transport() -> None:
    async def scenario() -> None:
        real, held = _wrapped()
        held.write_eof()
        held.write(b"late")  # not held: the transport's own error (if any) comes now
        assert real.calls == [("write_eof", None), ("write", b"late")]
        with pytest.raises(TypeError):
            _wrapped()[1].write(5)  # type: ignore[arg-type]

    asyncio.run(scenario())


def test_writes_an_odd_write_of_a_turn_goes_out_at_the_next_turn() -> None:
    async def scenario() -> None:
        real, held = _wrapped()
        held.write(b"head1")
        held.write(b"body1")  # paired: out at once
        held.write(b"head2")  # held; the flush scheduled by head1 sends it
        assert real.calls == [("write", b"head1body1")]
        await asyncio.sleep(0)
        assert real.calls == [("write", b"head1body1"), ("write", b"head2")]

    asyncio.run(scenario())


def test_writes_a_half_closing_peer_gets_what_was_held_before_the_transport_closes() -> None:
    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def eof_received(self) -> bool | None:
            return None  # as uvicorn's: the transport then closes itself

    async def scenario() -> None:
        real = _Recording()
        proto = one_write(Proto)()
        proto.connection_made(real)
        proto.transport.write(b"100 Continue")  # type: ignore[attr-defined]
        assert proto.eof_received() is None
        assert real.calls == [("write", b"100 Continue")]

    asyncio.run(scenario())


def test_writes_a_large_body_goes_out_beside_the_head_uncopied() -> None:
    async def scenario() -> None:
        real, held = _wrapped()
        body = b"x" * (1 << 20)
        held.write(b"head")
        held.write(body)
        assert real.calls[0][0] == "writelines"
        head, sent = real.calls[0][1]
        assert head == b"head" and sent is body

    asyncio.run(scenario())


def test_writes_a_reused_buffer_does_not_change_what_is_held() -> None:
    async def scenario() -> None:
        real, held = _wrapped()
        buffer = bytearray(b"first")
        held.write(buffer)
        buffer[:] = b"XXXXX"  # the caller reuses its buffer once write returns
        held.write(memoryview(b"second"))
        assert real.sent() == b"firstsecond"

    asyncio.run(scenario())


def test_writes_empty_writes_are_nothing_and_the_rest_is_the_transports() -> None:
    async def scenario() -> None:
        real, held = _wrapped()
        held.write(b"")  # nothing held (the transport sees it, and ignores it)
        await asyncio.sleep(0)
        assert real.sent() == b""
        held.write(b"abc")
        assert held.get_write_buffer_size() == 7 + 3  # the transport's and what is held
        assert held.get_extra_info("peername") == ("127.0.0.1", 8000)
        assert held.is_closing() is False

    asyncio.run(scenario())


def test_writes_one_write_wraps_a_protocol_class_once() -> None:
    class Proto(asyncio.Protocol):
        transport: Any = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

    wrapped = one_write(Proto)
    assert issubclass(wrapped, Proto) and one_write(wrapped) is wrapped
    assert one_write(Proto) is wrapped  # (made once per class)

    async def scenario() -> None:
        proto = wrapped()
        proto.connection_made(_Recording())
        assert isinstance(proto.transport, HeldWrites)

    asyncio.run(scenario())


def _writes_of_thread(native_id: int) -> int:
    """How many write system calls (write, writev) a thread of this process has made."""
    for line in Path(f"/proc/self/task/{native_id}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise RuntimeError("no syscw")


# Counting needs Linux's per-thread I/O accounting, and a loop that writes with write/writev
# (uvloop; asyncio's own loop sends with send(), which the count leaves out).
COUNTED = Path(f"/proc/self/task/{threading.get_native_id()}/io").exists() and bool(
    importlib.util.find_spec("uvloop")
)
needs_counts = pytest.mark.skipif(not COUNTED, reason="needs /proc/self/task/*/io and uvloop")


async def _two_writes(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app answering as starlette does: the head, then the body."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def _served(http: str) -> Iterator[tuple[str, int]]:
    """`_two_writes` served by EagerServer with uvicorn's `http` protocol in a thread: its
    URL and the thread's native id."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_two_writes, http=http, log_level="warning", lifespan="on")
    server = EagerServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "did not start"
            time.sleep(0.005)
        assert thread.native_id is not None
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", thread.native_id
    finally:
        server.should_exit = True
        thread.join(10)


def _writes_for(url: str, native_id: int, path: str, count: int, **client: Any) -> int:
    with httpx.Client(base_url=url, timeout=10, **client) as http:
        http.get(path).raise_for_status()  # connected, warmed up
        before = _writes_of_thread(native_id)
        for _ in range(count):
            http.get(path).raise_for_status()
        return _writes_of_thread(native_id) - before


@needs_counts
@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_writes_each_answer_is_one_system_call_with_either_http_parser(http: str) -> None:
    with _served(http) as (url, native_id):
        writes = _writes_for(url, native_id, "/", 40)
    # uvicorn alone writes each answer's head and body apart: 2 per request
    assert 40 <= writes <= 45, writes


@needs_counts
def test_writes_the_live_server_answers_each_request_in_one_system_call() -> None:
    with running_server(Settings(port=0, rate_limit=None)) as server:
        assert server.thread.native_id is not None
        writes = _writes_for(server.url, server.thread.native_id, "/api/v1/chat/credit", 40,
                             headers=AUTH)  # fmt: skip
    assert 40 <= writes <= 45, writes


def _received(raw: socket.socket) -> bytes:
    data = raw.recv(4096)
    if not data:
        raise AssertionError("the server closed the connection")
    return data


def _answer(raw: socket.socket, seen: bytes = b"") -> bytes:
    """Read one whole answer (head and Content-Length body) from `raw`."""
    while b"\r\n\r\n" not in seen:
        seen += _received(raw)
    head, _, body = seen.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += _received(raw)
    return head + b"\r\n\r\n" + body


def test_writes_a_head_alone_and_a_100_continue_are_not_held_back() -> None:
    with running_server(Settings(port=0, rate_limit=None)) as server:
        host, port = server.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("HEAD", "/api/v1/chat/credit", headers=AUTH)
            head = conn.getresponse()  # a head with no body after it
            assert head.status == 200 and head.getheader("content-length") == "42"
            assert head.read() == b""
        finally:
            conn.close()
        # Expect: 100-continue: the interim answer is written alone, and must arrive before
        # the client sends its body (nothing else is written until then).
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            body = b'{"url": "x"}'
            raw.sendall(
                b"POST /api/v1/common/download-url HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer writes-test\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            interim = b""
            while b"\r\n\r\n" not in interim:
                interim += _received(raw)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            raw.sendall(body)
            answer = _answer(raw)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert answer.endswith(b"}")
