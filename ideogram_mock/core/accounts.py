"""API keys and their credits; a failed task's charge comes back when it fails."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from ideogram_mock.core.errors import InsufficientCredits, Unauthorized


@dataclass
class Account:
    api_key: str
    credits: int
    tasks: int = 0
    # (due_ms, amount): refunds of failing tasks, paid when the failure happens.
    refunds: list[tuple[int, int]] = field(default_factory=list)

    def settle(self, now_ms: int) -> None:
        while self.refunds and self.refunds[0][0] <= now_ms:
            self.credits += heapq.heappop(self.refunds)[1]

    def balance(self, now_ms: int) -> int:
        self.settle(now_ms)
        return self.credits

    def refund(self, amount: int, now_ms: int) -> None:
        """Give back a charge now (a canceled task)."""
        self.settle(now_ms)
        self.credits += amount

    def charge(self, amount: int, now_ms: int, refund_at: int | None = None) -> None:
        """Take `amount`, or raise InsufficientCredits; `refund_at` gives it back then."""
        self.settle(now_ms)
        if amount > self.credits:
            raise InsufficientCredits(f"{amount} credits needed, {self.credits} left")
        self.credits -= amount
        self.tasks += 1
        if refund_at is not None:
            heapq.heappush(self.refunds, (refund_at, amount))


class Accounts:
    """With fixed keys only those authenticate; with none, any non-empty key is its own account."""

    def __init__(self, keys: tuple[str, ...], initial_credits: int) -> None:
        self.open = not keys
        self.initial_credits = initial_credits
        self._fixed = keys
        self._by_key: dict[str, Account] = {}
        self.reset()

    def reset(self) -> None:
        self._by_key = {k: Account(k, self.initial_credits) for k in self._fixed}

    def authenticate(self, api_key: str | None) -> Account:
        """The caller's account, or Unauthorized."""
        if not api_key:
            raise Unauthorized("no API key")
        account = self._by_key.get(api_key)
        if account is None:
            if not self.open:
                raise Unauthorized("unknown API key")
            account = self._by_key[api_key] = Account(api_key, self.initial_credits)
        return account

    def put(self, api_key: str, credits: int | None) -> Account:
        """Create or update an account (the key becomes valid even with fixed keys)."""
        account = self._by_key.get(api_key)
        if account is None:
            account = self._by_key[api_key] = Account(api_key, self.initial_credits)
        if credits is not None:
            account.credits = credits
            account.refunds.clear()
        return account

    def forget(self, api_key: str) -> None:
        """Drop an account (a fixed key comes back with its initial credits on next use)."""
        self._by_key.pop(api_key, None)
        if api_key in self._fixed:
            self._by_key[api_key] = Account(api_key, self.initial_credits)

    def all(self) -> list[Account]:
        return list(self._by_key.values())
