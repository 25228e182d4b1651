from __future__ import annotations

import pytest

from ideogram_mock.settings import RateLimit, Settings, from_env


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20/10", RateLimit(20, 10.0)), ("5", RateLimit(5, 10.0)), ("3/1s", RateLimit(3, 1.0)),
     ("off", None), ("0", None)],
)  # fmt: skip
def test_settings_rate_limit_parses(text: str, expected: RateLimit | None) -> None:
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["-1/10", "5/0", "many", "5/nan", "5/inf", "5/1e10"])
def test_settings_rate_limit_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate limit|invalid literal"):
        RateLimit.parse(text)


def test_settings_defaults_are_make_serves() -> None:
    s = Settings()
    assert (s.host, s.port, s.clock, s.http_status) == ("127.0.0.1", 8000, "real", "envelope")
    assert s.rate_limit == RateLimit(20, 10.0)
    assert s.base_url == "http://127.0.0.1:8000"


def test_settings_refuse_bad_values_naming_them() -> None:
    with pytest.raises(ValueError, match="clock") as info:
        Settings(clock="sundial", http_status="loud")
    assert "http_status" in str(info.value)
    with pytest.raises(ValueError, match="empty"):
        Settings(api_keys=("",))


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_scale", float("nan")), ("time_scale", float("inf")), ("time_scale", -1.0),
     ("time_scale", 2e9), ("callback_backoff_s", float("nan")), ("callback_backoff_s", -5.0),
     ("result_ttl_s", float("inf")), ("retention_s", float("nan")), ("record_delay_s", -1.0),
     ("download_ttl_s", 1e300), ("body_timeout_s", float("inf")), ("body_timeout_s", 0.0),
     ("callback_timeout_s", float("nan")), ("callback_timeout_s", 0.0), ("callback_retries", 31),
     ("max_body_bytes", -1)],
)  # fmt: skip
def test_settings_refuse_durations_that_are_not_finite_or_out_of_range(
    field: str, value: float
) -> None:
    with pytest.raises(ValueError, match=field):
        Settings().replace(**{field: value})


def test_settings_take_the_widest_durations() -> None:
    widest = Settings(
        time_scale=1e9, result_ttl_s=0, callback_backoff_s=1e9, callback_retries=30,
        record_delay_s=1e9, retention_s=1e9,
    )  # fmt: skip
    assert (widest.time_scale, widest.callback_retries) == (1e9, 30)


def test_settings_from_env_reads_prefixed_variables_and_overrides_win() -> None:
    env = {
        "IDEOGRAM_MOCK_PORT": "9001",
        "IDEOGRAM_MOCK_API_KEYS": "a, b",
        "IDEOGRAM_MOCK_ADMIN": "false",
        "IDEOGRAM_MOCK_RATE_LIMIT": "off",
        "IDEOGRAM_MOCK_TIME_SCALE": "0.5",
        "IDEOGRAM_MOCK_WEBHOOK_HMAC_KEY": "",
    }
    s = from_env(env, seed=3)
    assert (s.port, s.api_keys, s.admin, s.rate_limit, s.time_scale, s.seed) == (
        9001, ("a", "b"), False, None, 0.5, 3,
    )  # fmt: skip
    assert s.webhook_hmac_key is None
    with pytest.raises(ValueError, match="IDEOGRAM_MOCK_ADMIN: 'perhaps' is not true or false"):
        from_env({"IDEOGRAM_MOCK_ADMIN": "perhaps"})


def test_settings_as_dict_hides_the_hmac_key() -> None:
    shown = Settings(webhook_hmac_key="secret").as_dict()
    assert shown["webhook_hmac_key"] == "***"


def test_settings_from_env_keeps_an_override_of_none() -> None:
    assert from_env({"IDEOGRAM_MOCK_RATE_LIMIT": "5/1"}, rate_limit=None).rate_limit is None
