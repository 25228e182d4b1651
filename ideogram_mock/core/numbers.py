"""The one parser for numbers that arrive as text (query values, headers, file links, form
fields, failure codes): ASCII digits only, bounded, None otherwise. `str.isdigit()` is not
enough: it is true of '²' and '٣', which `int()` then refuses or reads unexpectedly."""

from __future__ import annotations

import re

_INTEGER = re.compile(r"-?[0-9]{1,18}")


def ascii_int(text: str | None, *, signed: bool = False) -> int | None:
    """The integer `text` spells in ASCII digits (at most 18 of them, a leading '-' when
    `signed`), or None."""
    if text is None or not _INTEGER.fullmatch(text):
        return None
    if text.startswith("-") and not signed:
        return None
    return int(text)
