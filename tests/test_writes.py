"""Each answer leaves the server in one write: uvicorn's head and body writes are held and sent
together (one system call, one TCP segment), with nothing lost, reordered or left behind."""

from __future__ import annotations

import asyncio
import http.client
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

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
        return 7

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


def _held(coro: Any) -> Any:
    return asyncio.run(coro)


def test_writes_a_head_and_its_body_go_out_in_one_write() -> None:
    async def scenario() -> _Recording:
        real = _Recording()
        held = HeldWrites(real, asyncio.get_running_loop())
        held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert real.calls == []  # held until what follows
        held.write(b"ok")
        await asyncio.sleep(0)  # the turn's flush finds nothing left
        return real

    real = _held(scenario())
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")]


def test_writes_a_lone_write_goes_out_at_the_next_turn_of_the_loop() -> None:
    async def scenario() -> None:
        real = _Recording()
        held = HeldWrites(real, asyncio.get_running_loop())
        held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert real.calls == []
        await asyncio.sleep(0)
        assert real.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]
        # and again for the next lone write (a flush is scheduled anew)
        held.write(b"more")
        await asyncio.sleep(0)
        assert real.sent() == b"HTTP/1.1 100 Continue\r\n\r\nmore"

    _held(scenario())


def test_writes_keep_their_order_whatever_their_number() -> None:
    async def scenario() -> bytes:
        real = _Recording()
        held = HeldWrites(real, asyncio.get_running_loop())
        chunks = [bytes([65 + i]) * (i + 1) for i in range(9)]
        for i, chunk in enumerate(chunks):
            held.write(chunk)
            if i % 4 == 3:
                await asyncio.sleep(0)
        held.writelines([b"-", b"end"])
        await asyncio.sleep(0)
        assert real.sent() == b"".join(chunks) + b"-end"
        return real.sent()

    _held(scenario())


def test_writes_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        closed = _Recording()
        held = HeldWrites(closed, loop)
        held.write(b"head")  # a dropped connection's head: sent, then the connection closed
        held.close()
        assert closed.calls == [("write", b"head"), ("close", None)]
        await asyncio.sleep(0)  # the scheduled flush sends nothing more
        assert closed.calls == [("write", b"head"), ("close", None)]

        aborted = _Recording()
        held = HeldWrites(aborted, loop)
        held.write(b"head")
        held.abort()
        await asyncio.sleep(0)
        assert aborted.calls == [("abort", None)]

        eof = _Recording()
        held = HeldWrites(eof, loop)
        held.write(b"last")
        held.write_eof()
        assert eof.calls == [("write", b"last"), ("write_eof", None)]

    _held(scenario())


def test_writes_held_bytes_are_dropped_once_the_connection_is_closing() -> None:
    async def scenario() -> None:
        real = _Recording()
        held = HeldWrites(real, asyncio.get_running_loop())
        held.write(b"head")
        real.closing = True  # the peer went away before the loop's next turn
        await asyncio.sleep(0)
        assert real.calls == []

    _held(scenario())


def test_writes_a_large_body_goes_out_beside_the_head_uncopied() -> None:
    async def scenario() -> None:
        real = _Recording()
        held = HeldWrites(real, asyncio.get_running_loop())
        body = b"x" * (1 << 20)
        held.write(b"head")
        held.write(body)
        assert real.calls[0][0] == "writelines"
        head, sent = real.calls[0][1]
        assert head == b"head" and sent is body

    _held(scenario())


def test_writes_a_reused_buffer_does_not_change_what_is_held() -> None:
    async def scenario() -> None:
        real = _Recording()
        held = HeldWrites(real, asyncio.get_running_loop())
        buffer = bytearray(b"first")
        held.write(buffer)
        buffer[:] = b"XXXXX"  # the caller reuses its buffer once write returns
        held.write(memoryview(b"second"))
        assert real.sent() == b"firstsecond"

    _held(scenario())


def test_writes_empty_writes_are_nothing_and_the_rest_is_the_transports() -> None:
    async def scenario() -> None:
        real = _Recording()
        held = HeldWrites(real, asyncio.get_running_loop())
        held.write(b"")
        await asyncio.sleep(0)
        assert real.calls == []
        held.write(b"abc")
        assert held.get_write_buffer_size() == 7 + 3  # the transport's and what is held
        assert held.get_extra_info("peername") == ("127.0.0.1", 8000)
        assert held.is_closing() is False

    _held(scenario())


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

    _held(scenario())


def _writes_of_thread(native_id: int) -> int:
    """How many write system calls (write, writev) a thread of this process has made."""
    for line in Path(f"/proc/self/task/{native_id}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise RuntimeError("no syscw")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_writes_the_live_server_answers_each_request_in_one_system_call() -> None:
    with running_server(Settings(port=0, rate_limit=None)) as server:
        native_id = server.thread.native_id
        assert native_id is not None
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
            client.get("/api/v1/chat/credit").raise_for_status()  # connected, warmed up
            before = _writes_of_thread(native_id)
            count = 40
            for _ in range(count):
                answer = client.get("/api/v1/chat/credit")
                assert answer.json()["code"] == 200
            writes = _writes_of_thread(native_id) - before
    # uvicorn alone writes each answer's head and body apart: 2 per request
    assert count <= writes <= count + 5, writes


def _answer(raw: socket.socket, seen: bytes = b"") -> bytes:
    """Read one whole answer (head and Content-Length body) from `raw`."""
    while b"\r\n\r\n" not in seen:
        seen += raw.recv(4096)
    head, _, body = seen.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += raw.recv(4096)
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
                interim += raw.recv(1024)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            raw.sendall(body)
            answer = _answer(raw)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert answer.endswith(b"}")
