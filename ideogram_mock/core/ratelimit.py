"""A sliding-window limit per API key on the fake clock."""

from __future__ import annotations

from collections import deque

from ideogram_mock.core.errors import RateLimited
from ideogram_mock.settings import RateLimit


class RateLimiter:
    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._windows: dict[str, deque[int]] = {}

    def reset(self) -> None:
        self._windows.clear()

    def hit(self, scope: str, now_ms: int) -> None:
        """Count one request of `scope` (a provider's key), or raise RateLimited (not counted,
        not queued) when over the limit."""
        if self.limit is None:
            return
        window = self._windows.get(scope)
        if window is None:
            window = self._windows[scope] = deque()
        span = round(self.limit.seconds * 1000)
        horizon = now_ms - span
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= self.limit.requests:
            raise RateLimited(window[0] + span - now_ms)
        window.append(now_ms)
