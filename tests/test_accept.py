"""The server accepts every connection waiting in the kernel's queue at once, not one per turn of
its event loop, so a burst of new connections under load is not left queued past a client's
timeout (the soak bench's 1,000 connections saw dozens of 5-second timeouts before)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

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


def _burst(turns: int, workers: int = 1) -> int:
    """How many of a burst of BURST connections a server has taken `turns` turns of its loop
    after they all arrived (the last one then served)."""
    app = _Started()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound, not listening: as `serve` hands it over
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", backlog=2048, loop="uvloop", workers=workers
    )
    server = EagerServer(config)
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

        loop.call_soon_threadsafe(_after_turns, loop, turns, count)
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
    return seen[0]


def test_a_burst_of_connections_is_accepted_within_a_few_turns_of_the_loop() -> None:
    # uvloop's own server accepts one a turn: about TURNS of them by then.
    assert _burst(TURNS) == BURST


def test_workers_sharing_a_socket_each_take_a_bounded_share_a_turn() -> None:
    # Each of several workers on one socket takes at most SHARED_PER_TURN a turn, so a burst
    # spreads over them; still many times uvloop's one a turn, and all of it soon.
    early = _burst(3, workers=2)
    assert SHARED_PER_TURN <= early <= 3 * SHARED_PER_TURN
    assert _burst(TURNS, workers=2) == BURST


def test_the_supervisor_of_several_workers_makes_eager_ones() -> None:
    from ideogram_mock.server.accept import EagerProcess

    listener = socket.socket()
    try:
        made = EagerProcess(uvicorn.Config(_Started(), workers=2), [listener])
        assert isinstance(made.server, EagerServer)
    finally:
        listener.close()
    # (`serve --workers 2` points uvicorn's supervisor at it: tests/test_persistence.py runs
    # such servers end to end.)


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
