"""The request log's buffer: lines come out whole, in the order they were made, every batch or
at a flush, whatever text their fields hold."""

from __future__ import annotations

import io
import json
import sys
import threading
from typing import Any

import pytest

from ideogram_mock.server.logs import Sink

FIXED = {"provider": "kie", "operation": "recordInfo", "method": "GET"}


def _written(sink: Sink) -> bytes:
    stream = sink.stream
    assert isinstance(stream, io.BytesIO)
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_logs_lines_keep_their_order_across_kept_heads_and_whole_lines(fmt: str) -> None:
    sink = Sink(io.BytesIO(), fmt, batch=1000, interval_s=3600)
    head = sink.head("request", FIXED)
    expected = Sink(io.BytesIO(), fmt, batch=1000, interval_s=3600)
    for i in range(5):
        sink.emit_after(head, {"path": f"/p{i}", "status": 200})
        sink.emit("callback", {"attempt": i})
        expected.emit("request", {**FIXED, "path": f"/p{i}", "status": 200})
        expected.emit("callback", {"attempt": i})
    sink.flush()
    expected.flush()
    assert _written(sink) == _written(expected)
    assert _written(sink).count(b"\n") == 10


def test_logs_a_batch_is_written_when_full_and_not_before() -> None:
    sink = Sink(io.BytesIO(), "json", batch=4, interval_s=3600)
    head = sink.head("request", FIXED)
    for i in range(3):
        sink.emit_after(head, {"status": i})
    assert _written(sink) == b""  # still kept
    sink.emit_after(head, {"status": 3})
    lines = [json.loads(line) for line in _written(sink).splitlines()]
    assert [line["status"] for line in lines] == [0, 1, 2, 3]
    assert all(line["event"] == "request" and line["operation"] == "recordInfo" for line in lines)


def test_logs_a_line_written_after_its_interval_takes_the_kept_ones_along() -> None:
    sink = Sink(io.BytesIO(), "json", batch=1000, interval_s=-1.0)
    head = sink.head("request", FIXED)
    sink.emit_after(head, {"status": 200})
    assert json.loads(_written(sink))["status"] == 200


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_logs_text_that_is_not_unicode_is_written_escaped_beside_the_rest(fmt: str) -> None:
    sink = Sink(io.BytesIO(), fmt, batch=1000, interval_s=3600)
    head = sink.head("request", FIXED)
    sink.emit_after(head, {"path": "/before"})
    sink.emit_after(head, {"path": "/bad\ud800"})  # a lone surrogate
    sink.emit("callback", {"url": "http://x/\udfff"})
    sink.emit_after(head, {"path": "/after"})
    sink.flush()
    lines = _written(sink).splitlines()
    assert len(lines) == 4
    if fmt == "json":
        parsed = [json.loads(line) for line in lines]
        assert [p.get("path") for p in parsed] == ["/before", "/bad\ud800", None, "/after"]
        assert parsed[2]["url"] == "http://x/\udfff"
    else:
        assert lines[1].endswith(b"path=/bad\\ud800")
        assert lines[2] == b"callback url=http://x/\\udfff"


def test_logs_lines_from_many_threads_are_each_written_once_in_their_order() -> None:
    sink = Sink(io.BytesIO(), "json", batch=64, interval_s=3600)
    head = sink.head("request", FIXED)

    def emit(thread: int) -> None:
        for i in range(2_000):
            sink.emit_after(head, {"thread": thread, "i": i})

    threads = [threading.Thread(target=emit, args=(t,)) for t in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns within each other's calls
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    sink.flush()
    seen: dict[int, list[int]] = {t: [] for t in range(4)}
    for line in _written(sink).splitlines():
        parsed = json.loads(line)
        seen[parsed["thread"]].append(parsed["i"])
    assert all(order == list(range(2_000)) for order in seen.values())


def test_logs_a_value_json_has_no_type_for_is_written_as_its_repr_and_flush_never_raises() -> None:
    sink = Sink(io.BytesIO(), "json", batch=1000, interval_s=3600)
    head = sink.head("request", FIXED)
    sink.emit_after(head, {"path": "/a", "key": None})
    sink.emit_after(head, {"odd": Exception(), "text": "é"})
    sink.emit_after(head, {})
    sink.flush()
    lines = [json.loads(line) for line in _written(sink).splitlines()]
    assert lines[0] == {"event": "request", **FIXED, "path": "/a", "key": None}
    assert lines[1]["odd"] == "Exception()" and lines[1]["text"] == "é"
    assert lines[2] == {"event": "request", **FIXED}


def test_logs_a_nan_beside_an_odd_value_is_written_as_null_in_strict_json() -> None:
    sink = Sink(io.BytesIO(), "json", batch=1000, interval_s=3600)
    head = sink.head("request", FIXED)
    odd = float("nan"), float("-inf"), [float("inf"), 1.5]
    sink.emit_after(head, {"odd": Exception(), "nan": odd[0], "inf": odd[1], "list": odd[2]})
    sink.emit_after(head, {"nan": odd[0]})  # (orjson alone: null too)
    sink.flush()

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    lines = [json.loads(line, parse_constant=refuse) for line in _written(sink).splitlines()]
    assert lines[0] == {
        "event": "request", **FIXED, "odd": "Exception()", "nan": None, "inf": None,
        "list": [None, 1.5],
    }  # fmt: skip
    assert lines[1] == {"event": "request", **FIXED, "nan": None}


class _Interrupting(io.BytesIO):
    """A stream whose write is interrupted by something that logs and flushes (as a signal
    handler could), once."""

    def __init__(self) -> None:
        super().__init__()
        self.sink: Sink | None = None
        self.interrupted = False

    def write(self, data: Any) -> int:
        if not self.interrupted and self.sink is not None:
            self.interrupted = True
            self.sink.emit("signal", {"n": 1})
            self.sink.flush()  # returns at once: its lines go with the next flush
        return super().write(data)


def test_logs_a_flush_interrupted_by_another_on_its_own_thread_loses_no_line() -> None:
    stream = _Interrupting()
    sink = Sink(stream, "json", batch=2, interval_s=3600)
    stream.sink = sink
    head = sink.head("request", FIXED)
    sink.emit_after(head, {"i": 1})
    sink.emit_after(head, {"i": 2})  # a full batch: flushed, and interrupted while writing
    assert stream.interrupted
    sink.flush()
    events = [json.loads(line) for line in _written(sink).splitlines()]
    assert [e.get("i", e["event"]) for e in events] == [1, 2, "signal"]


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_logs_a_line_that_cannot_be_formatted_still_leaves_its_head_and_the_rest(
    fmt: str,
) -> None:
    sink = Sink(io.BytesIO(), fmt, batch=1000, interval_s=3600)
    head = sink.head("request", FIXED)
    sink.emit_after(head, {"path": "/a"})
    sink.emit_after(head, {"odd": _Unprintable()})
    sink.emit_after(head, {"path": "/b"})
    sink.flush()  # does not raise
    lines = _written(sink).splitlines()
    assert len(lines) == 3
    if fmt == "json":
        assert json.loads(lines[1]) == {"event": "request", **FIXED, "unformatted": True}
    else:
        assert lines[1] == b"request provider=kie operation=recordInfo method=GET unformatted"
