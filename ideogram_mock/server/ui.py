"""The inspector: one self-contained page (no build step, nothing fetched from elsewhere) that
calls the documented control API for everything it shows and does."""

from __future__ import annotations

from pathlib import Path

UI_PAGE = (Path(__file__).with_name("ui.html")).read_text(encoding="utf-8")
# Everything the page loads comes from the fake itself; nothing is cached (it is live).
UI_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
