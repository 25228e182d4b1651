from __future__ import annotations

import pytest

from ideogram_mock.core.accounts import Accounts
from ideogram_mock.core.errors import InsufficientCredits, RateLimited, Unauthorized
from ideogram_mock.core.ratelimit import RateLimiter
from ideogram_mock.settings import RateLimit
from ideogram_mock.stores.base import Store
from tests.conftest import Kie, make_settings


def test_accounts_open_mode_makes_an_account_per_key(store: Store) -> None:
    accounts = Accounts(store, (), 50)
    assert accounts.authenticate("x").credits == 50
    assert accounts.authenticate("x") == accounts.authenticate("x")
    assert [a.api_key for a in accounts.all()] == ["x"]
    for key in (None, ""):
        with pytest.raises(Unauthorized):
            accounts.authenticate(key)


def test_accounts_fixed_keys_refuse_strangers_until_put(store: Store) -> None:
    accounts = Accounts(store, ("a",), 10)
    with pytest.raises(Unauthorized):
        accounts.authenticate("b")
    accounts.put("b", 3)
    assert accounts.authenticate("b").credits == 3
    assert sorted(a.api_key for a in accounts.all()) == ["a", "b"]
    store.clear()
    with pytest.raises(Unauthorized):
        accounts.authenticate("b")


def test_accounts_charge_refuses_when_short_and_refunds_on_time(store: Store) -> None:
    accounts = Accounts(store, (), 30)
    accounts.charge("k", 18, now_ms=0, refund_at=100)
    with pytest.raises(InsufficientCredits):
        accounts.charge("k", 18, now_ms=50)
    assert accounts.balance("k", 99) == 12
    assert accounts.balance("k", 100) == 30
    assert accounts.get("k").tasks == 1  # a refused charge counts no task


def test_charges_of_an_account_with_no_refunds_pending_are_exact(store: Store) -> None:
    accounts = Accounts(store, (), 30)
    accounts.authenticate("k")  # the account exists, nothing owed back
    accounts.charge("k", 10, now_ms=0)
    accounts.charge("k", 20, now_ms=0)  # down to exactly nothing
    with pytest.raises(InsufficientCredits, match="1 credits needed, 0 left"):
        accounts.charge("k", 1, now_ms=0)
    accounts.put("k", 5)
    accounts.charge("k", 5, now_ms=0, refund_at=40)  # a failing task's charge, on a clean slate
    assert (accounts.balance("k", 39), accounts.balance("k", 40)) == (0, 5)
    assert accounts.get("k").tasks == 3


def test_accounts_refund_put_and_forget(store: Store) -> None:
    accounts = Accounts(store, ("fixed",), 30)
    accounts.charge("fixed", 10, now_ms=0, refund_at=500)
    accounts.refund("fixed", 5, now_ms=10)
    assert accounts.balance("fixed", 10) == 25
    assert accounts.balance("fixed", 500) == 35
    assert accounts.put("fixed", 7).balance(500) == 7  # a balance set drops refunds due
    accounts.forget("fixed")
    assert accounts.authenticate("fixed").credits == 30  # a fixed key comes back as new


def test_ratelimit_window_slides_and_refusals_do_not_count(store: Store) -> None:
    limiter = RateLimiter(store, RateLimit(2, 1.0))
    limiter.hit("k", 0)
    limiter.hit("k", 10)
    with pytest.raises(RateLimited) as info:
        limiter.hit("k", 500)
    assert info.value.retry_after_ms == 500  # the first hit leaves the window at 1000
    limiter.hit("other", 500)
    limiter.hit("k", 1000)
    with pytest.raises(RateLimited):
        limiter.hit("k", 1009)
    limiter.hit("k", 1010)


@pytest.mark.anyio
@pytest.mark.parametrize("settings", [make_settings(credits=0, rate_limit=RateLimit(2, 10.0))])
async def test_refused_create_requests_count_toward_the_rate_limit(kie: Kie) -> None:
    # kie documents "20 new createTask requests per 10 s": requests, not tasks.
    assert (await kie.create())["code"] == 402
    assert (await kie.create())["code"] == 402
    assert (await kie.create())["code"] == 429
