"""API keys and their credits; a failed task's charge comes back when it fails.

An account is a document in the store, changed only atomically, so credits stay exact when
several processes charge one key at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ideogram_mock.core.errors import InsufficientCredits, Unauthorized
from ideogram_mock.stores.base import UNCHANGED, Store

KIND = "account"


@dataclass(slots=True)
class Account:
    """An account as read: credits, tasks created, and refunds due (due_ms, amount) of tasks
    that are failing (paid back when the failure happens). A snapshot, treated as read-only
    though not frozen: every request reads one, and a frozen dataclass's `__init__` costs
    several times as much."""

    api_key: str
    credits: int
    tasks: int = 0
    refunds: tuple[tuple[int, int], ...] = ()

    def balance(self, now_ms: int) -> int:
        return self.credits + sum(amount for due, amount in self.refunds if due <= now_ms)


def _settled(value: Any, initial_credits: int, now_ms: int) -> list[Any]:
    """A stored account (None: a new one) with the refunds due by `now_ms` paid in: its
    credits, its task count, and the refunds still pending."""
    if value is None:
        return [initial_credits, 0, []]
    credits, tasks, refunds = value
    if not refunds:  # (the usual case)
        return [credits, tasks, []]
    paid = sum(amount for due, amount in refunds if due <= now_ms)
    return [credits + paid, tasks, [[due, amount] for due, amount in refunds if due > now_ms]]


class Accounts:
    """With fixed keys only those authenticate; with none, any non-empty key is its own account."""

    def __init__(self, store: Store, keys: tuple[str, ...], initial_credits: int) -> None:
        self.store = store
        self.open = not keys
        self.initial_credits = initial_credits
        self._fixed = keys

    def _of(self, api_key: str, value: Any) -> Account:
        if value is None:
            return Account(api_key, self.initial_credits)
        credits, tasks, refunds = value
        return Account(
            api_key, credits, tasks, tuple((d, a) for d, a in refunds) if refunds else ()
        )

    def get(self, api_key: str) -> Account:
        return self._of(api_key, self.store.read(KIND, api_key))

    def authenticate(self, api_key: str | None) -> Account:
        """The caller's account, or Unauthorized."""
        if not api_key:
            raise Unauthorized("no API key")
        value = self.store.read(KIND, api_key)
        if value is None:
            if not self.open and api_key not in self._fixed:
                raise Unauthorized("unknown API key")
            value = self.store.update(KIND, api_key, self._created)
        return self._of(api_key, value)

    def _created(self, value: Any) -> tuple[Any, Any]:
        if value is not None:
            return UNCHANGED, value
        fresh = [self.initial_credits, 0, []]
        return fresh, fresh

    def balance(self, api_key: str, now_ms: int) -> int:
        return self.get(api_key).balance(now_ms)

    def charge(self, api_key: str, amount: int, now_ms: int, refund_at: int | None = None) -> None:
        """Take `amount`, or raise InsufficientCredits; `refund_at` gives it back then."""

        def change(value: Any) -> tuple[Any, None]:
            credits, tasks, refunds = _settled(value, self.initial_credits, now_ms)
            if amount > credits:
                raise InsufficientCredits(f"{amount} credits needed, {credits} left")
            if refund_at is not None:
                refunds = sorted([*refunds, [refund_at, amount]])
            return [credits - amount, tasks + 1, refunds], None

        self.store.update(KIND, api_key, change)

    def refund(self, api_key: str, amount: int, now_ms: int) -> None:
        """Give back a charge now (a canceled task)."""

        def change(value: Any) -> tuple[Any, None]:
            credits, tasks, refunds = _settled(value, self.initial_credits, now_ms)
            return [credits + amount, tasks, refunds], None

        self.store.update(KIND, api_key, change)

    def put(self, api_key: str, credits: int | None) -> Account:
        """Create or update an account (the key becomes valid even with fixed keys)."""

        def change(value: Any) -> tuple[Any, Any]:
            account = self._of(api_key, value)
            new = [
                account.credits if credits is None else credits,
                account.tasks,
                [list(r) for r in account.refunds] if credits is None else [],
            ]
            return new, new

        return self._of(api_key, self.store.update(KIND, api_key, change))

    def forget(self, api_key: str) -> None:
        """Drop an account (a fixed key comes back with its initial credits on next use)."""
        self.store.update(KIND, api_key, lambda _: (None, None))

    def all(self) -> list[Account]:
        stored = dict(self.store.documents(KIND))
        keys = [k for k in self._fixed if k not in stored] + list(stored)
        return [self._of(k, stored.get(k)) for k in keys]
