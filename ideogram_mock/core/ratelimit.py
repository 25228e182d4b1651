"""A sliding-window limit per API key on the fake clock."""

from __future__ import annotations

from collections import deque

from ideogram_mock.core.errors import ApiError
from ideogram_mock.settings import RateLimit


class RateLimiter:
    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._windows: dict[str, deque[int]] = {}

    def reset(self) -> None:
        self._windows.clear()

    def hit(self, api_key: str, now_ms: int) -> None:
        """Count one request, or raise 429 (not counted, not queued) when over the limit."""
        if self.limit is None:
            return
        window = self._windows.get(api_key)
        if window is None:
            window = self._windows[api_key] = deque()
        horizon = now_ms - round(self.limit.seconds * 1000)
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= self.limit.requests:
            raise ApiError(429)
        window.append(now_ms)
