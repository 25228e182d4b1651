"""A sliding-window limit per API key on the fake clock (a window is a document in the store,
so the limit holds across processes)."""

from __future__ import annotations

from typing import Any

from ideogram_mock.core.errors import RateLimited
from ideogram_mock.settings import RateLimit
from ideogram_mock.stores.base import Store

KIND = "window"


class RateLimiter:
    def __init__(self, store: Store, limit: RateLimit | None) -> None:
        self.store = store
        self.limit = limit

    def hit(self, scope: str, now_ms: int) -> None:
        """Count one request of `scope` (a provider's key), or raise RateLimited (not counted,
        not queued) when over the limit."""
        limit = self.limit
        if limit is None:
            return
        span = round(limit.seconds * 1000)

        def change(value: Any) -> tuple[Any, None]:
            window = [at for at in (value or ()) if at > now_ms - span]
            if len(window) >= limit.requests:
                raise RateLimited(window[0] + span - now_ms)
            window.append(now_ms)
            return window, None

        self.store.update(KIND, scope, change)
