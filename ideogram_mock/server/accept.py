"""Accept every waiting connection at each turn of the event loop, not one.

uvloop's libuv accepts one connection per turn of the loop. Under load a turn takes tens of
milliseconds (it serves every ready connection), so a burst of new connections, such as a
client's pool opening a thousand at once, drains from the kernel's queue at a few dozen a
second: the last ones wait there for many seconds, past any client's timeout, while every
request the fake has accepted is answered in milliseconds. `EagerServer` leaves the listening
sockets off the loop's own server and accepts on them in a reader of its own, until the
kernel's queue is empty (up to the backlog per turn; `SHARED_PER_TURN` when workers share the
sockets), handing each connection to uvicorn's protocol as the loop's server would.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
from collections.abc import Callable

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from ideogram_mock.server.writes import one_write

log = logging.getLogger("uvicorn.error")

# Errors of accept() that say nothing about the listening socket itself (accept(2): the new
# connection's own, to be retried like EAGAIN): try the next one.
_TRANSIENT = {
    errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.ENOPROTOOPT,
    errno.EHOSTDOWN, errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH,
}  # fmt: skip
# Out of file descriptors or memory: the waiting connections stay queued, and accepting stops
# for PAUSE_S (any other error stops it on that socket for good).
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
PAUSE_S = 0.5
# How long shutdown waits for connections accepted but not yet handed to uvicorn.
ADOPT_WAIT_S = 5.0
# Workers that share a listening socket (`--workers`) each take at most this many a turn, so
# that a burst spreads over them instead of going to whichever woke first.
SHARED_PER_TURN = 32
# A request head must arrive whole within this (the default; `serve` uses --body-timeout),
# looked at every HEAD_SWEEP_S.
HEAD_TIMEOUT_S = 10.0
HEAD_SWEEP_S = 0.5
_UNKNOWN = object()  # (an attribute another protocol class does not have)


class EagerServer(uvicorn.Server):
    """uvicorn's server, accepting eagerly on the sockets it is given (`run(sockets=...)`);
    without sockets, with TLS, or on a loop that cannot adopt an accepted socket, as uvicorn
    does. `shared`: other processes accept on the same sockets (`--workers`; see
    `SHARED_PER_TURN`). Each connection it accepts sends an answer in one write (`writes.py`).
    A connection whose request head has not fully arrived within `head_timeout_s` is closed
    (see `_sweep_heads`)."""

    _listening: list[socket.socket]
    _adopting: set[asyncio.Task[None]]

    def __init__(
        self,
        config: uvicorn.Config,
        shared: bool = False,
        head_timeout_s: float = HEAD_TIMEOUT_S,
    ) -> None:
        super().__init__(config)
        self.shared = shared
        self.head_timeout_s = head_timeout_s
        # Connections seen waiting for a request head: the request they were at, and since when.
        self._heads: dict[object, tuple[object, float]] = {}
        self._head_timer: asyncio.TimerHandle | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._adopting = set()  # (the loop keeps only weak references to tasks)
        self._listening = []
        config = self.config
        eager = sockets and config.ssl is None and hasattr(loop, "connect_accepted_socket")
        if not eager:
            await super().startup(sockets=sockets)
            return
        assert sockets is not None
        try:
            for sock in sockets:  # (the loop's server would: a bound socket may not listen yet)
                sock.listen(config.backlog)
        except OSError as exc:
            log.error("cannot listen on %s: %s", sock, exc)
            sys.exit(STARTUP_FAILURE)
        await super().startup(sockets=[])  # the lifespan, and no server of the loop's own
        self._listening = list(sockets)
        # Each answer in one write (see writes.py); the config itself is left as it was (it
        # may be pickled for other processes, and the class made here cannot be).
        protocol_class = one_write(config.http_protocol_class)

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return made

        for sock in self._listening:
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._accept, loop, sock, protocol)
        self._head_timer = loop.call_later(HEAD_SWEEP_S, self._sweep_heads, loop)

    def _sweep_heads(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close each connection that has waited longer than `head_timeout_s` for a request
        head to arrive whole: one that never sends, or sends its headers a byte at a time
        (uvicorn times out only a kept-alive connection between requests, and a body is
        timed out by `BodyWatch`). No cost per request: a sweep a second looks at uvicorn's
        own state (no request in flight, no keep-alive timer armed: bytes of a head came, or
        none yet) and at whether the connection moved on to a new request since."""
        try:
            self._close_slow_heads(loop.time())
        finally:  # (whatever one connection did, the sweeps go on)
            if not self.should_exit:
                self._head_timer = loop.call_later(HEAD_SWEEP_S, self._sweep_heads, loop)

    def _close_slow_heads(self, now: float) -> None:
        seen = self._heads
        live = self.server_state.connections
        for conn in list(live):  # (a close may change the set)
            cycle = getattr(conn, "cycle", _UNKNOWN)
            waiting = getattr(conn, "timeout_keep_alive_task", _UNKNOWN) is None and (
                cycle is None or getattr(cycle, "response_complete", False)
            )
            if not waiting:
                seen.pop(conn, None)
                continue
            first = seen.get(conn)
            if first is None or first[0] is not cycle:
                seen[conn] = (cycle, now)
            elif now - first[1] > self.head_timeout_s:
                del seen[conn]
                transport = getattr(conn, "transport", None)
                if transport is not None:
                    transport.close()
        for gone in [c for c in seen if c not in live]:
            del seen[gone]

    def _accept(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
    ) -> None:
        for _ in range(SHARED_PER_TURN if self.shared else max(1, self.config.backlog)):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except OSError as exc:
                if exc.errno in _TRANSIENT:
                    continue
                loop.remove_reader(sock.fileno())
                if exc.errno in _EXHAUSTED:
                    log.warning("accept() failed (%s); accepting again in %g s", exc, PAUSE_S)
                    loop.call_later(PAUSE_S, self._resume, loop, sock, protocol)
                else:
                    log.error("accept() failed (%s); no longer accepting on %s", exc, sock)
                return
            task = loop.create_task(self._adopt(loop, conn, protocol))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    def _resume(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
    ) -> None:
        if sock in self._listening and not self.should_exit:
            loop.add_reader(sock.fileno(), self._accept, loop, sock, protocol)

    async def _adopt(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
    ) -> None:
        try:
            await loop.connect_accepted_socket(protocol, conn)
        except (OSError, RuntimeError):  # gone before it was adopted, or the loop is closing
            conn.close()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting first, let the connections already accepted reach uvicorn (so that
        it tells them to close too), then shut down as uvicorn does (closing the sockets)."""
        loop = asyncio.get_running_loop()
        if self._head_timer is not None:
            self._head_timer.cancel()
        listening, self._listening = self._listening, []
        for sock in listening:
            if sock.fileno() != -1:
                loop.remove_reader(sock.fileno())
        if self._adopting:
            await asyncio.wait(set(self._adopting), timeout=ADOPT_WAIT_S)
        await super().shutdown(sockets=sockets)
