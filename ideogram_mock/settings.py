"""Frozen configuration, from flags or `IDEOGRAM_MOCK_*` environment variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "IDEOGRAM_MOCK_"


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` createTask calls per `seconds` per API key."""

    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """`20/10` (20 per 10 s), `20` (per 10 s), or `off`/`0` for none."""
        text = text.strip().lower()
        if text in ("off", "none", "0", ""):
            return None
        count, _, window = text.partition("/")
        requests = int(count)
        seconds = float(window.removesuffix("s")) if window else 10.0
        if requests < 1 or seconds <= 0:
            raise ValueError(f"rate limit {text!r}: need N/S with N ≥ 1 and S > 0")
        return cls(requests, seconds)

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


@dataclass(frozen=True)
class Settings:
    """Everything the fake can be told; the defaults are `make serve`'s."""

    providers: tuple[str, ...] = ()  # which providers to serve; none named: all of them
    host: str = "127.0.0.1"
    port: int = 8000
    seed: int = 0
    clock: str = "real"
    time_scale: float = 1.0
    api_keys: tuple[str, ...] = ()
    public_url: str | None = None
    webhook_hmac_key: str | None = None
    rate_limit: RateLimit | None = field(default_factory=lambda: RateLimit(20, 10.0))
    credits: int = 100_000
    admin: bool = True
    http_status: str = "envelope"
    unknown_task: str = "live"
    image_format: str = "png"
    result_ttl_s: float = 24 * 3600.0
    download_ttl_s: float = 20 * 60.0
    retention_s: float = 14 * 24 * 3600.0
    record_delay_s: float = 0.0
    callback_hosts: tuple[str, ...] = ("localhost", "127.0.0.0/8", "::1")
    callback_timeout_s: float = 15.0
    callback_retries: int = 2
    callback_backoff_s: float = 5.0
    fetch_inputs: bool = False
    fetch_hosts: tuple[str, ...] = ("localhost", "127.0.0.0/8", "::1")
    # Signs result and asset links; None: a random secret per process (links cannot be forged
    # from the public seed). Set it to keep links valid across restarts.
    signing_key: str | None = None
    # Required (as `Authorization: Bearer <token>` or `X-Admin-Token`) on every /_mock call.
    admin_token: str | None = None
    journal_size: int = 10_000
    max_body_bytes: int = 1_048_576

    def __post_init__(self) -> None:
        problems = []
        if self.clock not in ("real", "manual"):
            problems.append(f"clock must be real or manual, not {self.clock!r}")
        if self.http_status not in ("envelope", "mirror"):
            problems.append(f"http_status must be envelope or mirror, not {self.http_status!r}")
        if self.unknown_task not in ("live", "docs"):
            problems.append(f"unknown_task must be live or docs, not {self.unknown_task!r}")
        if self.image_format not in ("png", "jpeg", "webp"):
            problems.append(f"image_format must be png, jpeg or webp, not {self.image_format!r}")
        if self.time_scale < 0:
            problems.append("time_scale must be ≥ 0")
        if not 0 <= self.port <= 65535:
            problems.append("port must be 0–65535")
        if self.credits < 0 or self.callback_retries < 0 or self.journal_size < 1:
            problems.append("credits and callback_retries must be ≥ 0, journal_size ≥ 1")
        if any(not k for k in self.api_keys):
            problems.append("an API key cannot be empty")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def base_url(self) -> str:
        """Where clients reach the fake (result URLs are built on it)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["rate_limit"] = str(self.rate_limit) if self.rate_limit else "off"
        out["api_keys"] = list(self.api_keys)
        out["providers"] = list(self.providers)
        out["callback_hosts"] = list(self.callback_hosts)
        out["fetch_hosts"] = list(self.fetch_hosts)
        out["signing_key"] = "***" if self.signing_key else None
        out["admin_token"] = "***" if self.admin_token else None
        out["webhook_hmac_key"] = "***" if self.webhook_hmac_key else None
        out["base_url"] = self.base_url
        return out


def _convert(name: str, raw: str) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    if name == "rate_limit":
        return RateLimit.parse(raw)
    if name in ("api_keys", "callback_hosts", "fetch_hosts", "providers"):
        return tuple(k.strip() for k in raw.split(",") if k.strip())
    if kind == "bool":
        if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError(f"{ENV_PREFIX}{name.upper()}: {raw!r} is not a boolean")
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "str | None":
        return raw or None
    return raw


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from `IDEOGRAM_MOCK_<NAME>` variables, then `overrides` on top."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _convert(f.name, raw)
    # An override of None is meaningful (e.g. rate_limit=None is "off"): callers pass only
    # what they were given.
    values.update(overrides)
    return Settings(**values)
