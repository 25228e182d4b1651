"""The Redis store's two fast ways to a request's read-ahead (one EVALSHA of a small read-only
script): `Pipeline`, for the requests an event loop serves at once, and `Lane`, a blocking call
without redis-py's per-command layers. Either hands a call it cannot take back as ORDINARY, and
the store then makes it through redis-py, which reconnects, retries and loads scripts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any

try:
    import redis
except ImportError:  # pragma: no cover - the extra is not installed (RedisStore says so)
    redis = None  # type: ignore[assignment]
try:  # the C reply parser the extra brings; its command packer is ten times redis-py's
    import hiredis
    from hiredis import Reader as _Reader
    from hiredis import pack_command as _pack

    _Push: Any = getattr(hiredis, "PushNotification", None)
except ImportError:  # pragma: no cover - redis-py without hiredis
    _pack = None  # type: ignore[assignment]
    _Reader = None  # type: ignore[assignment,misc]
    _Push = None

ORDINARY = object()  # a call handed back to redis-py's ordinary path
_INCOMPLETE = object()  # what the reply reader gives until a whole reply has come
LANE_NAME = "ideogram-mock-read-ahead"
PIPELINE_NAME = "ideogram-mock-read-ahead-pipeline"


def _evalsha(script: Any, keys: list[str], args: list[str]) -> tuple[Any, ...]:
    """The command that runs a registered script (`redis-py`'s Script) on keys and args."""
    return ("EVALSHA", script.sha, len(keys), *keys, *args)


def _connect(conn: Any, name: str) -> Any:
    """`conn`, connected, and named `name` unless the URL names connections: best effort (a
    user whose ACL forbids CLIENT SETNAME keeps unnamed connections)."""
    try:
        conn.connect()
        if not conn.client_name:
            try:
                conn.send_command("CLIENT", "SETNAME", name)
                conn.read_response()
            except redis.ResponseError:
                pass
    except BaseException:
        conn.disconnect()
        raise
    return conn


class Lane:
    """A connection of the store's own for its hottest call, a request's read-ahead: the
    script call is packed, sent and read right on it, without the pool, retry and bookkeeping
    layers redis-py puts around each command (they cost as much CPU as the round trip). One
    thread uses the lane at a time. A call that finds it busy, that loses its connection, or
    whose script the server no longer has (SCRIPT FLUSH, a restart) goes the ordinary way,
    which reconnects, retries and loads the script again."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        self._retry_at = 0.0  # after a failed connect, when to try again

    def call(self, script: Any, keys: list[str], args: list[str]) -> Any:
        if self._lock.acquire(blocking=False):
            try:
                found = self._direct(script, keys, args)
            finally:
                self._lock.release()
            if found is not ORDINARY:
                return found
        return script(keys=keys, args=args)

    def _connection(self) -> Any:
        """The lane's connection, made outside the client's pool (it takes none of the pool's
        connections), connected and named for CLIENT LIST (see `_connect`)."""
        pool = self._client.connection_pool
        return _connect(pool.connection_class(**pool.connection_kwargs), LANE_NAME)

    def _direct(self, script: Any, keys: list[str], args: list[str]) -> Any:
        conn = self._conn
        if conn is None or self._pid != os.getpid():  # new, or inherited across a fork
            if time.monotonic() < self._retry_at:
                return ORDINARY
            try:
                conn = self._conn = self._connection()
            except Exception:  # not now (the ordinary way reports why, if it is down)
                self._conn, self._retry_at = None, time.monotonic() + 1.0
                return ORDINARY
            self._pid = os.getpid()
        try:
            command = _evalsha(script, keys, args)
            packed = conn.pack_command(*command) if _pack is None else [_pack(command)]
            conn.send_packed_command(packed, check_health=False)
            return conn.read_response()
        except redis.exceptions.NoScriptError:
            return ORDINARY  # its reply was read: the connection is in step
        except (redis.RedisError, OSError):
            self._drop(conn)  # a reply may be left unread: the connection is not reused
            return ORDINARY  # the ordinary way answers, or raises what is wrong
        except BaseException:
            self._drop(conn)
            raise

    def _drop(self, conn: Any) -> None:
        conn.disconnect()
        self._conn = None  # the next call connects (and names) a new one

    def close(self) -> None:
        # Not forever: a lock held by a thread that a fork left behind is never released.
        if not self._lock.acquire(timeout=1.0):
            return
        try:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.disconnect()
            self._conn = None
        finally:
            self._lock.release()


class Pipeline:
    """The read-aheads of the requests one event loop serves at once, pipelined on one
    connection of their own. Each request queues its script call and waits without blocking
    the loop; the calls queued in one turn of the loop go out in one write, and the replies,
    read as they come, answer the requests in order. Meanwhile the loop serves other requests
    (a blocking round trip per request left it idle for a quarter of its time).

    It belongs to the first thread that uses it (its loops, one at a time); other threads get
    None and go the blocking way (`Lane`), as do TLS connections. The connection speaks
    RESP2, whatever the URL asks: nothing comes on it but replies. A broken connection, a reply
    out of step, or a server that does not answer within the socket timeout ends every call
    waiting with `ORDINARY`, which sends it the blocking way too; the next call connects anew
    (not sooner than a second after a failed connect)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        options = client.connection_pool.connection_kwargs
        self._timeout_s = float(options.get("socket_timeout") or 10.0)
        # TLS: its socket holds what it has decrypted, unseen by the loop's selector.
        self._off = (
            _pack is None
            or _Reader is None
            or issubclass(client.connection_pool.connection_class, redis.SSLConnection)
        )
        self._reset()

    def _reset(self) -> None:
        """The state of a pipeline no thread has used (also: in a child after a fork, where
        the parent's connection and threads are not this process's)."""
        self._pid = os.getpid()
        self._thread = 0  # its owner, once one has used it
        self._binding = threading.Lock()
        self._gen = 0  # of the connection; callbacks of an earlier one do nothing
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Any = None
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._out = bytearray()
        self._waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._flushing = False  # a flush is due this turn of the loop
        self._writing = False  # waiting for room to write the rest
        self._watch: asyncio.TimerHandle | None = None
        self._retry_at = 0.0  # after a failed connect, when to try again

    def send(self, script: Any, keys: list[str], args: list[str]) -> asyncio.Future[Any] | None:
        """The reply to come, or None: take the blocking way."""
        if self._off:
            return None
        if self._pid != os.getpid():
            self._reset()  # forked: the parent's connection is not to be touched
        if self._thread and self._thread != threading.get_ident():
            return None  # another thread's
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        if loop is not self._loop and not self._bind(loop):
            return None
        self._out += _pack(_evalsha(script, keys, args))
        waiting = loop.create_future()
        self._waiting.append((time.monotonic(), waiting))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush, self._gen)
        if self._watch is None:
            self._watch = loop.call_later(min(1.0, self._timeout_s), self._check, self._gen)
        return waiting

    def _bind(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Connect for `loop` (the owner's loop before it has closed or stopped: one runs at
        a time in a thread)."""
        if time.monotonic() < self._retry_at or not self._binding.acquire(blocking=False):
            return False
        try:
            if self._off or (self._thread and self._thread != threading.get_ident()):
                return False  # another thread took it first, or it was closed meanwhile
            self._break()
            pool = self._client.connection_pool
            options = {**pool.connection_kwargs, "protocol": 2}  # RESP3 pushes messages
            try:
                conn = pool.connection_class(**options)
            except Exception:  # a connection class that takes no such options: no pipeline
                self._off = True
                return False
            try:
                _connect(conn, PIPELINE_NAME)
                sock = getattr(conn, "_sock", None)
                if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
                    self._off = True
                    raise TypeError("not a plain socket")
                if str(getattr(conn, "protocol", 2)) != "2":
                    self._off = True
                    raise TypeError("not RESP2")
                sock.setblocking(False)
                self._gen += 1
                loop.add_reader(sock.fileno(), self._readable, self._gen)
            except NotImplementedError:  # a loop that watches no sockets (Windows' proactor)
                conn.disconnect()
                self._off = True
                return False
            except Exception:
                conn.disconnect()
                self._retry_at = time.monotonic() + 1.0
                return False
            self._conn, self._sock, self._reader = conn, sock, _Reader(notEnoughData=_INCOMPLETE)
            self._loop, self._thread = loop, threading.get_ident()
            return True
        finally:
            self._binding.release()

    def _flush(self, gen: int) -> None:
        if gen != self._gen:
            return  # for a connection since closed
        self._flushing = False
        sock, loop = self._sock, self._loop
        if sock is None or loop is None:
            return
        if self._out:
            try:
                sent = sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._break()
                return
            del self._out[:sent]
        if self._out and not self._writing:
            loop.add_writer(sock.fileno(), self._flush, gen)
            self._writing = True
        elif not self._out and self._writing:
            loop.remove_writer(sock.fileno())
            self._writing = False

    def _readable(self, gen: int) -> None:
        sock = self._sock
        if gen != self._gen or sock is None:
            return
        try:
            data = sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._break()
            return
        if not data:
            self._break()  # the server closed the connection
            return
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except Exception:  # not RESP: out of step
                self._break()
                return
            if reply is _INCOMPLETE:
                return
            if not self._waiting or (_Push is not None and isinstance(reply, _Push)):
                self._break()  # a reply nobody asked for: out of step
                return
            _, waiting = self._waiting.popleft()
            if not waiting.done():  # (a request that gave up: its reply is read all the same)
                waiting.set_result(reply)

    def _check(self, gen: int) -> None:
        """A server that stopped answering ends the calls waiting on it."""
        if gen != self._gen:
            return
        self._watch = None
        if not self._waiting or self._loop is None:
            return
        if time.monotonic() - self._waiting[0][0] > self._timeout_s:
            self._break()
            return
        self._watch = self._loop.call_later(min(1.0, self._timeout_s), self._check, gen)

    def _break(self) -> None:
        """Close the connection; every call waiting goes the blocking way."""
        self._gen += 1
        waiting, self._waiting = self._waiting, deque()
        loop, sock, conn = self._loop, self._sock, self._conn
        self._loop, self._sock, self._conn, self._reader = None, None, None, None
        self._out = bytearray()
        self._flushing = self._writing = False
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if loop is not None and sock is not None and not loop.is_closed():
            loop.remove_reader(sock.fileno())
            loop.remove_writer(sock.fileno())
        if conn is not None:
            conn.disconnect()
        for _, future in waiting:
            if not future.done() and not future.get_loop().is_closed():
                future.set_result(ORDINARY)

    def close(self) -> None:
        self._off = True
        if self._pid != os.getpid() or not self._binding.acquire(timeout=1.0):
            return  # (a fork's copy, or a bind that never ends: the process is going)
        try:
            loop = self._loop
            if loop is None:
                return
            if loop.is_running() and self._thread != threading.get_ident():
                with contextlib.suppress(RuntimeError):  # (closed meanwhile)
                    loop.call_soon_threadsafe(self._break)
            else:
                self._break()
        finally:
            self._binding.release()
