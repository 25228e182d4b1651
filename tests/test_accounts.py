from __future__ import annotations

import pytest

from ideogram_mock.core.accounts import Accounts
from ideogram_mock.core.errors import InsufficientCredits, RateLimited, Unauthorized
from ideogram_mock.core.ratelimit import RateLimiter
from ideogram_mock.settings import RateLimit
from tests.conftest import Kie, make_settings


def test_accounts_open_mode_makes_an_account_per_key() -> None:
    accounts = Accounts((), 50)
    assert accounts.authenticate("x").credits == 50
    assert accounts.authenticate("x") is accounts.authenticate("x")
    for key in (None, ""):
        with pytest.raises(Unauthorized):
            accounts.authenticate(key)


def test_accounts_fixed_keys_refuse_strangers_until_put() -> None:
    accounts = Accounts(("a",), 10)
    with pytest.raises(Unauthorized):
        accounts.authenticate("b")
    accounts.put("b", 3)
    assert accounts.authenticate("b").credits == 3
    accounts.reset()
    with pytest.raises(Unauthorized):
        accounts.authenticate("b")


def test_accounts_charge_refuses_when_short_and_refunds_on_time() -> None:
    account = Accounts((), 30).authenticate("k")
    account.charge(18, now_ms=0, refund_at=100)
    with pytest.raises(InsufficientCredits):
        account.charge(18, now_ms=50)
    assert account.balance(99) == 12
    assert account.balance(100) == 30


def test_ratelimit_window_slides_and_refusals_do_not_count() -> None:
    limiter = RateLimiter(RateLimit(2, 1.0))
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
