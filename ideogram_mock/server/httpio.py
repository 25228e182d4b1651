"""Small HTTP helpers shared by the upstream and control handlers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from ideogram_mock.core.numbers import ascii_int

_NOT_JSON = object()


def bearer(scope: Scope) -> str | None:
    """The API key of `Authorization: Bearer <key>`, or None (read from the raw headers)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            key = key.strip()
            return key if scheme.lower() == "bearer" and key else None
    return None


def query(scope: Scope) -> dict[str, str]:
    """The query string as a dict (the last value of a repeated name wins)."""
    raw = scope["query_string"]
    if not raw:
        return {}
    text = raw.decode("latin-1")
    if "%" not in text and "+" not in text:
        return dict(part.partition("=")[::2] for part in text.split("&") if part)
    return dict(parse_qsl(text, keep_blank_values=True))


class BodyTimeout(Exception):
    """The body did not fully arrive in time (shorter than its Content-Length, or a chunked
    body with no end): the request is dropped, not answered."""


class BodyWatch:
    """Times body reads out without a timer per request (a timer costs more than the rest of a
    small request's read): reads register their deadline, and one sweeper, run by the server's
    lifespan, cancels those past it. Served in-process (no sweeper), bodies come whole."""

    def __init__(self, period_s: float = 0.25) -> None:
        self.period_s = period_s
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        # The loops sweepers run on, per thread, with how many sweep each: a read registers
        # only where one would see it, and finds its task without asking for the running
        # loop (which costs a getpid system call on Python 3.11, once per request).
        self._swept = threading.local()

    def start(self, timeout_s: float) -> asyncio.Task[Any] | None:
        task = None
        for loop in list(getattr(self._swept, "loops", ())):  # (nearly always one)
            task = asyncio.current_task(loop)  # (a task only on the loop running now)
            if task is not None:
                self._reading[task] = time.monotonic() + timeout_s
                break
        return task

    def stop(self, task: asyncio.Task[Any] | None) -> bool:
        """Unregister a read; whether the sweeper cut it short."""
        if task is None:
            return False
        self._reading.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    async def run(self) -> None:
        """Sweep this event loop's reads (servers on other loops sweep their own)."""
        loop = asyncio.get_running_loop()
        # (Two apps on one loop each sweep, and one may stop first; a thread may run another
        # loop while this one waits to run again.)
        loops: dict[asyncio.AbstractEventLoop, int] | None = getattr(self._swept, "loops", None)
        if loops is None:
            loops = self._swept.loops = {}
        loops[loop] = loops.get(loop, 0) + 1
        try:
            while True:
                await asyncio.sleep(self.period_s)
                now = time.monotonic()
                for task, deadline in list(self._reading.items()):
                    if now > deadline and task.get_loop() is loop and task not in self._expired:
                        self._expired.add(task)
                        task.cancel()
        finally:
            # (This thread's dict, even when the garbage collector closes the sweeper on
            # another thread: `start` reads a copy of it.)
            if loops.get(loop, 0) > 1:
                loops[loop] -= 1
            else:
                loops.pop(loop, None)


WATCH = BodyWatch()


async def read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (read no further). BodyTimeout
    when it has not all arrived within `timeout_s` (see BodyWatch); starlette's
    ClientDisconnect when the client went away first. Read from the ASGI messages themselves,
    as starlette's `Request.stream` does, without making a Request: a small body comes in one
    message, and the wrapper would cost more than the read."""
    size = _content_length(scope)
    if size is not None and size > limit:
        return None
    chunks: list[bytes] = []
    watched = WATCH.start(timeout_s)
    try:
        size = 0
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return None
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            elif kind == "http.disconnect":
                raise ClientDisconnect()
    except asyncio.CancelledError:
        if WATCH.stop(watched):
            raise BodyTimeout(f"the body did not arrive within {timeout_s:g} s") from None
        raise
    finally:
        WATCH.stop(watched)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return ascii_int(value.decode("latin-1"))
    return None


def parse_json(raw: bytes) -> Any:
    """The JSON value, or `NOT_JSON`."""
    if not raw.strip():
        return _NOT_JSON
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON


# An integer literal too long for 64 bits (or digits as long in a string: then re-read too),
# found by mapping every digit to 0 and every other byte to a space, then looking for 19 zeros
# (a translate and a substring search: a fifth of the cost of a regex over the body).
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGITS = b"0" * 19


def request_json(body: Any, raw: bytes) -> str:
    """A parsed request body as a task keeps it, compact JSON that reads back as the client's
    own: orjson's dump of `body`, except when `raw` has an integer beyond 64 bits, which orjson
    reads as a float (-32589158477190044730 → -3.2589158477190046e19): then `raw` is read
    again, exactly, by the standard library."""
    if _LONG_DIGITS in raw.translate(_DIGITS_AS_ZERO):
        try:
            return json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":"))
        except (RecursionError, ValueError):  # nested deeper than the standard library goes
            pass
    return orjson.dumps(body).decode()


def is_json(value: Any) -> bool:
    return value is not _NOT_JSON
