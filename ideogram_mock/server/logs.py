"""The fake's structured log: one line per request answered and per callback attempt, as JSON
(for machines) or text (for people). `serve` turns it on; a library user gets nothing unless
they configure it (`configure()`, or the `ideogram_mock.callbacks` logger).

Request lines are on the hot path, so they skip the logging module: each is kept as its
fields in a buffer, formatted (one orjson call a line) and written out every 64 lines or 0.2 s
(the app's lifespan flushes it on a timer and at shutdown), which keeps the log nearly free at
thousands of requests a second."""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import math
import sys
import threading
import time
from typing import IO, Any

import orjson

CALLBACKS = logging.getLogger("ideogram_mock.callbacks")


@functools.lru_cache(maxsize=4096)
def key_hash(api_key: str | None) -> str | None:
    """A short, stable stand-in for a key (a log never shows the key itself)."""
    if not api_key:
        return None
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


class Sink:
    """Request lines, buffered: written every `batch` lines or `interval_s` seconds.

    A line made from a kept head (`emit_after`, every request's) is kept as its fields and
    formatted when the batch is written: formatting a batch at once keeps the formatter's
    code and data in the processor's caches, where one line per request between two
    requests' other work finds them cold (over HTTP a request line cost 4-5 µs of server CPU
    formatted at once, about a third of that batched)."""

    def __init__(self, stream: IO[bytes], fmt: str, batch: int = 64, interval_s: float = 0.2):
        self.stream = stream
        self.json = fmt == "json"
        self.batch = batch
        self.interval_s = interval_s
        # Lines in order: bytes, or (head, fields) to format when written.
        self._lines: list[bytes | tuple[bytes, dict[str, Any]]] = []
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._writer: int | None = None  # the thread flushing now

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        if self.json:
            line = _json_line({"event": event, **fields})
        else:
            text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            line = f"{event} {text}\n".encode("utf-8", "backslashreplace")
        self._add(line)

    def head(self, event: str, fixed: dict[str, Any]) -> bytes:
        """The start of the lines of `event` that always begin with the `fixed` fields, made
        once; `emit_after` writes such a line with its other fields."""
        if self.json:  # open, with the comma before the fields that follow
            return _json_line({"event": event, **fixed})[:-2] + b","
        text = " ".join([event, *(f"{k}={v}" for k, v in fixed.items() if v is not None)])
        return text.encode("utf-8", "backslashreplace")

    def emit_after(self, head: bytes, fields: dict[str, Any]) -> None:
        """The line `emit(event, {**fixed, **fields})` writes, from `head(event, fixed)`
        (formatted when written: `fields` must not change after the call)."""
        self._add((head, fields))

    def _line(self, head: bytes, fields: dict[str, Any]) -> bytes:
        try:
            return self._formatted(head, fields)
        except Exception:  # (no such value is logged today; a line is still written)
            return head[:-1] + b',"unformatted":true}\n' if self.json else head + b" unformatted\n"

    def _formatted(self, head: bytes, fields: dict[str, Any]) -> bytes:
        if self.json:
            rest = _json_line(fields)  # {…}\n
            return head + rest[1:] if len(rest) > 3 else head[:-1] + b"}\n"
        text = "".join(f" {k}={v}" for k, v in fields.items() if v is not None)
        return head + text.encode("utf-8", "backslashreplace") + b"\n"

    def _add(self, line: bytes | tuple[bytes, dict[str, Any]]) -> None:
        # No lock: appending to a list is atomic, and `flush` takes what it writes from the
        # front of this same list, so a line added meanwhile waits at its end.
        lines = self._lines
        lines.append(line)
        if len(lines) >= self.batch or time.monotonic() - self._last > self.interval_s:
            # (when the lines pile up behind a stuck writer, wait for it: backpressure)
            self.flush(wait=len(lines) >= BACKLOG_BATCHES * self.batch)

    def flush(self, wait: bool = True) -> None:
        """Write the kept lines, one writer at a time so that batches go out in order. When
        another flush is under way (another thread's, or one this thread was interrupted in
        by a signal), wait for it up to a second if `wait`, else leave the lines to the next
        flush. Never raises: the log must not fail a request or the server."""
        me = threading.get_ident()
        if self._writer == me:  # interrupted in its own flush: that one writes them
            return
        got = self._lock.acquire(timeout=WAIT_S) if wait else self._lock.acquire(blocking=False)
        if not got:
            return
        self._writer = me
        try:
            lines = self._lines
            count = len(lines)
            taken = lines[:count]
            del lines[:count]
            self._last = time.monotonic()
            if not taken:
                return
            made = self._line
            out = b"".join([line if type(line) is bytes else made(*line) for line in taken])
            try:
                self.stream.write(out)
                self.stream.flush()
            except (OSError, ValueError):  # a closed pipe: the reader has gone
                pass
        finally:
            self._writer = None
            self._lock.release()


WAIT_S = 1.0
BACKLOG_BATCHES = 16


def _json_line(fields: dict[str, Any]) -> bytes:
    """`fields` as one line of JSON. Text that is not valid Unicode (a lone surrogate) is
    written escaped, and a value JSON has no type for as its repr, rather than refused; a NaN
    or an infinity is null, as orjson writes it (never the standard library's bare NaN)."""
    try:
        return orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        dump = functools.partial(
            json.dumps, separators=(",", ":"), ensure_ascii=False, default=repr, allow_nan=False
        )
        try:
            text = dump(fields)
        except ValueError:  # a NaN or an infinity beside the odd value
            text = dump(_finite(fields))
        return text.encode("utf-8", "backslashreplace") + b"\n"


def _finite(value: Any) -> Any:
    """`value` with every float that is not finite as None (in its dicts, lists and tuples)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# The request log's sink; None: off (the default outside `serve`).
SINK: Sink | None = None


def flush() -> None:
    if SINK is not None:
        SINK.flush()


class _ToSink(logging.Handler):
    """The core's callback lines (stdlib logging, the core knows no sink) into the sink."""

    def emit(self, record: logging.LogRecord) -> None:
        if SINK is not None:
            SINK.emit(record.getMessage(), getattr(record, "event", {}))


def configure(fmt: str = "json", quiet: bool = False) -> None:
    """Send the request and callback lines to stdout (`fmt` json or text), or nowhere."""
    global SINK
    SINK = None if quiet else Sink(sys.stdout.buffer, fmt)
    for handler in list(CALLBACKS.handlers):
        CALLBACKS.removeHandler(handler)
    CALLBACKS.propagate = False
    if SINK is None:
        CALLBACKS.setLevel(logging.WARNING)
        return
    atexit.register(flush)
    CALLBACKS.addHandler(_ToSink())
    CALLBACKS.setLevel(logging.INFO)
