"""The fake's structured log: one line per request answered and per callback attempt, as JSON
(for machines) or text (for people). `serve` turns it on; a library user gets nothing unless
they configure it (`configure()`, or the `ideogram_mock.callbacks` logger).

Request lines are on the hot path, so they skip the logging module: each is one orjson call
into a buffer written out every 64 lines or 0.2 s (the app's lifespan flushes it on a timer
and at shutdown), which keeps the log nearly free at thousands of requests a second."""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
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
    """Request lines, buffered: written every `batch` lines or `interval_s` seconds."""

    def __init__(self, stream: IO[bytes], fmt: str, batch: int = 64, interval_s: float = 0.2):
        self.stream = stream
        self.json = fmt == "json"
        self.batch = batch
        self.interval_s = interval_s
        self._lines: list[bytes] = []
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        if self.json:
            line = orjson.dumps({"event": event, **fields}) + b"\n"
        else:
            text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            line = f"{event} {text}\n".encode()
        self._add(line)

    def head(self, event: str, fixed: dict[str, Any]) -> bytes:
        """The start of the lines of `event` that always begin with the `fixed` fields, made
        once; `emit_after` writes such a line with its other fields."""
        if self.json:  # open, with the comma before the fields that follow
            return orjson.dumps({"event": event, **fixed})[:-1] + b","
        return " ".join([event, *(f"{k}={v}" for k, v in fixed.items() if v is not None)]).encode()

    def emit_after(self, head: bytes, fields: dict[str, Any]) -> None:
        """The line `emit(event, {**fixed, **fields})` writes, from `head(event, fixed)`."""
        if self.json:
            rest = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)  # {…}\n
            line = head + rest[1:] if len(rest) > 3 else head[:-1] + b"}\n"
        else:
            text = "".join(f" {k}={v}" for k, v in fields.items() if v is not None)
            line = head + text.encode() + b"\n"
        self._add(line)

    def _add(self, line: bytes) -> None:
        with self._lock:
            self._lines.append(line)
            due = len(self._lines) >= self.batch
        if due or time.monotonic() - self._last > self.interval_s:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            self._last = time.monotonic()
        if lines:
            try:
                self.stream.write(b"".join(lines))
                self.stream.flush()
            except (OSError, ValueError):  # a closed pipe: the reader has gone
                pass


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
