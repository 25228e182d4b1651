"""The server accepts every connection waiting in the kernel's queue at once, not one per turn of
its event loop, so a burst of new connections under load is not left queued past a client's
timeout (the soak bench's 1,000 connections saw dozens of 5-second timeouts before)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import uvicorn

from ideogram_mock.server.accept import SHARED_PER_TURN, EagerServer

BURST = 200
TURNS = 20  # turns of the loop given to the burst: far fewer than BURST


class _Started:
    """A tiny ASGI app that hands its event loop out once the server has started."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.loop = asyncio.get_running_loop()
                    await send({"type": "lifespan.startup.complete"})
                    self.ready.set()
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _after_turns(loop: asyncio.AbstractEventLoop, turns: int, then: Callable[[], None]) -> None:
    """Call `then` on `loop` after `turns` more turns (each call_soon waits for the next)."""
    if turns == 0:
        then()
    else:
        loop.call_soon(_after_turns, loop, turns - 1, then)


class _Listener(socket.socket):
    """A listening socket that counts the connections taken from it."""

    taken = 0

    def accept(self) -> tuple[socket.socket, Any]:
        pair = super().accept()
        self.taken += 1
        return pair


class _Counting(EagerServer):
    """An EagerServer that notes how many connections each wake-up of its reader took."""

    def __init__(self, config: uvicorn.Config, shared: bool) -> None:
        super().__init__(config, shared=shared)
        self.takes: list[int] = []

    def _accept(self, loop: Any, sock: Any, protocol: Any) -> None:
        before = sock.taken
        super()._accept(loop, sock, protocol)
        self.takes.append(sock.taken - before)


def _burst(shared: bool = False) -> tuple[int, list[int]]:
    """A burst of BURST connections, all queued before the server's loop turns again: how many
    of them have reached uvicorn (`connection_made`) TURNS turns later, and how many each
    wake-up of the accepting reader took (the last connection then served)."""
    app = _Started()
    listener = _Listener()
    listener.bind(("127.0.0.1", 0))  # bound, not listening: as `serve` hands it over
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", backlog=2048, loop="uvloop")
    server = _Counting(config, shared=shared)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    clients: list[socket.socket] = []
    gate = threading.Event()
    try:
        assert app.ready.wait(30)
        loop = app.loop
        assert loop is not None
        # Hold the loop while the burst connects: the kernel queues every connection.
        counted = threading.Event()
        seen: list[int] = []
        loop.call_soon_threadsafe(gate.wait)
        for _ in range(BURST):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=30))

        def count() -> None:
            seen.append(len(server.server_state.connections))
            counted.set()

        loop.call_soon_threadsafe(_after_turns, loop, TURNS, count)
        gate.set()
        assert counted.wait(30)
        # Every one of them is served.
        clients[-1].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert clients[-1].recv(1024).startswith(b"HTTP/1.1 200")
    finally:
        gate.set()  # (never leave the loop held)
        for client in clients:
            client.close()
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
    assert listener.fileno() == -1  # closed at shutdown, as uvicorn does
    return seen[0], [n for n in server.takes if n]


def test_a_burst_of_connections_is_accepted_within_a_few_turns_of_the_loop() -> None:
    # uvloop's own server accepts one a turn: about TURNS of them by then.
    reached, takes = _burst()
    assert reached == BURST
    assert max(takes) > SHARED_PER_TURN  # as many as were queued, at one wake-up


def test_a_server_sharing_its_socket_takes_a_bounded_number_each_wake_up() -> None:
    # Workers on one socket (`--workers`) each take at most SHARED_PER_TURN at a time, so a
    # burst spreads over them; still many times uvloop's one a turn, and all of it soon.
    reached, takes = _burst(shared=True)
    assert reached == BURST
    assert max(takes) == SHARED_PER_TURN
    assert sum(takes) == BURST


def test_serve_with_several_workers_starts_eager_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from uvicorn import supervisors
    from uvicorn.supervisors import multiprocess

    from ideogram_mock.server import cli
    from ideogram_mock.server.workers import EagerProcess
    from ideogram_mock.settings import Settings

    # Restored after the test: the supervisor's name for its workers, and serve's environment.
    monkeypatch.setattr(multiprocess, "Process", multiprocess.Process)
    monkeypatch.setenv(cli.WORKER_SETTINGS, "")
    monkeypatch.setenv(cli.WORKER_LOG, "")
    made: list[Any] = []

    class Supervisor:  # uvicorn's, without its signal handlers and processes
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            self.config = config

        def run(self) -> None:
            made.append(multiprocess.Process(self.config, []))

    monkeypatch.setattr(supervisors, "Multiprocess", Supervisor)
    listener = socket.socket()
    try:
        args = argparse.Namespace(log_level="warning", log_format="json", quiet=True)
        settings = Settings(workers=2, store="sqlite:///unused.db")  # (never opened here)
        assert cli._serve_workers(settings, listener, args) == 0
    finally:
        listener.close()
    (worker,) = made
    assert type(worker) is EagerProcess
    assert isinstance(worker.server, EagerServer) and worker.server.shared


def test_without_sockets_the_server_listens_as_uvicorn_does() -> None:
    app = _Started()
    server = EagerServer(
        uvicorn.Config(app, port=0, lifespan="on", log_level="warning", loop="uvloop")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert app.ready.wait(30)
        for _ in range(3000):  # listening once started (after the lifespan)
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started
        (listening,) = server.servers[0].sockets  # the loop's own server, on a port of its own
        port = listening.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(1024).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
