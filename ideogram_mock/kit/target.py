"""What the kit may do to the server it tests, and how it leaves it. Against a fake served over
HTTP the kit uses keys of its own, moves the clock only when the fake's clock is manual (there
is no other way to finish a task, and the move is reported), shortens its own tasks with rules
scoped to its key when the clock is real, and at the end forgets its keys (their accounts,
tasks, rules and journal entries) so the target is as it found it. The real service is never
touched beyond what the run spends."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from ideogram_mock.kit.config import KitConfig


class Target:
    def __init__(self, client: httpx.Client, config: KitConfig, mock: Any = None) -> None:
        self.client = client
        self.config = config
        self.mock = mock
        self.control, self.manual = self._probe()
        self.moved_s = 0.0
        self._rules: list[str] = []
        self.forgotten = 0
        self._paced = 0.0
        self._pace_lock = threading.Lock()

    def pace(self) -> None:
        """Keep at least `min_interval_s` between requests (live: under the service's limits)."""
        if self.config.min_interval_s <= 0:
            return
        with self._pace_lock:
            wait = self._paced + self.config.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._paced = time.monotonic()

    def _probe(self) -> tuple[bool, bool]:
        """Whether the target has the fake's control API, and whether its clock is manual."""
        if self.config.live:
            return False, False
        try:
            response = self.client.get("/_mock/clock")
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return False, False
        if not isinstance(body, dict) or "nowMs" not in body:
            return False, False
        return True, body.get("mode") == "manual"

    @property
    def moves_clock(self) -> bool:
        """Whether the kit moves time on the target (in-process, or a manual-clock fake)."""
        return self.mock is not None or (self.control and self.manual)

    @property
    def shared(self) -> bool:
        """A fake over HTTP: someone else's, possibly; the kit cleans up after itself."""
        return self.mock is None and self.control

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: the fake's clock when the kit may move it, else real time
        (at most one poll interval)."""
        if self.mock is not None:
            self.mock.advance(seconds)
        elif self.control and self.manual:
            self.client.post("/_mock/clock/advance", json={"seconds": seconds})
            self.moved_s += seconds
        else:
            time.sleep(min(seconds, self.config.poll_seconds))

    def add_rule(self, provider: str, rule: dict[str, Any]) -> None:
        """A rule on a shared fake, scoped to the run's key and provider; removed at the end."""
        if not self.shared:
            return
        scoped = {**rule, "provider": provider, "apiKey": self.config.api_key}
        answer = self.client.post("/_mock/faults", json=scoped)
        if answer.status_code == 201:
            self._rules.append(answer.json()["id"])

    def clean_up(self) -> None:
        """Remove the run's rules and, for keys the kit made up, everything they left."""
        for rule_id in self._rules:
            self.client.delete(f"/_mock/faults/{rule_id}")
        self._rules.clear()
        if not self.shared or not self.config.own_keys:
            return
        for key in (self.config.api_key, self.config.other_api_key):
            if key:
                answer = self.client.delete(f"/_mock/accounts/{key}")
                if answer.status_code == 200:
                    self.forgotten += int(answer.json().get("removed", 0))

    def summary(self) -> str:
        if self.mock is not None:
            return "target: a fake in this process, discarded at the end"
        if not self.control:
            return "target: no control API (the real service or a proxy): nothing to clean up"
        clock = (
            f"its manual clock moved {self.moved_s:g} s (the only way to finish a task)"
            if self.moved_s
            else "its clock not moved"
        )
        keys = (
            f"the run's own keys forgotten ({self.forgotten} tasks)"
            if self.config.own_keys
            else "keys given by CONTRACT_API_KEY kept"
        )
        return f"target left as found: {keys}, {clock}"
