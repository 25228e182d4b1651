"""The fake's structured log: one line per request answered and per callback attempt, as JSON
(for machines) or text (for people). `serve` turns it on; a library user gets nothing unless
they configure the `ideogram_mock.requests` / `ideogram_mock.callbacks` loggers."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from typing import Any

REQUESTS = logging.getLogger("ideogram_mock.requests")
CALLBACKS = logging.getLogger("ideogram_mock.callbacks")


def key_hash(api_key: str | None) -> str | None:
    """A short, stable stand-in for a key (a log never shows the key itself)."""
    if not api_key:
        return None
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = getattr(record, "event", {})
        return json.dumps({"event": record.getMessage(), **event}, separators=(",", ":"))


class Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = getattr(record, "event", {})
        fields = " ".join(f"{k}={v}" for k, v in event.items() if v is not None)
        return f"{record.getMessage()} {fields}"


def configure(fmt: str = "json", quiet: bool = False) -> None:
    """Send the request and callback lines to stdout (`fmt` json or text), or nowhere."""
    for logger in (REQUESTS, CALLBACKS):
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = False
        if quiet:
            logger.setLevel(logging.WARNING)
            continue
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonLines() if fmt == "json" else Text())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
