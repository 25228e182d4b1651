"""Frozen configuration, from flags or `IDEOGRAM_MOCK_*` environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "IDEOGRAM_MOCK_"
# Where `ideogram-mock serve` keeps its state unless told otherwise (relative to the working
# directory): tasks, credits and pending callbacks outlive a restart.
SERVE_STORE = "sqlite:///.ideogram-mock/state.db"
# The longest duration (and the largest time scale) a setting may hold: about 31 years, far
# past any test, and small enough that every moment it leads to fits a 64-bit millisecond.
MAX_SECONDS = 1e9
# Retries of a callback, at most (its backoff doubles at each).
MAX_RETRIES = 30
# The settings in seconds (and the time scale): finite, from 0 to MAX_SECONDS.
_SPANS = (
    "time_scale", "result_ttl_s", "download_ttl_s", "retention_s", "record_delay_s",
    "callback_timeout_s", "callback_backoff_s", "body_timeout_s",
)  # fmt: skip


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
        if requests < 1 or not 0 < seconds <= MAX_SECONDS:
            raise ValueError(
                f"rate limit {text!r}: need N/S with N ≥ 1 and S > 0 (at most {MAX_SECONDS:g})"
            )
        return cls(requests, seconds)

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


def url_host(host: str) -> str:
    """`host` as it goes in a URL that works: IPv6 in brackets, and an unspecified address
    (0.0.0.0, ::, which no client can connect to) as the loopback of its family; other
    machines need --public-url."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


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
    callback_concurrency: int = 64  # callback attempts in flight at once, in all
    callback_per_host: int = 4  # of which one receiver's host may hold at most this many
    fetch_inputs: bool = False
    strict_fields: bool = False  # refuse fields a kie body does not declare (else ignore them)
    fetch_hosts: tuple[str, ...] = ("localhost", "127.0.0.0/8", "::1")
    # Signs result and asset links; None: a random secret per process (links cannot be forged
    # from the public seed). Set it to keep links valid across restarts.
    signing_key: str | None = None
    # Required (as `Authorization: Bearer <token>` or `X-Admin-Token`) on every /_mock call.
    admin_token: str | None = None
    journal_size: int = 10_000
    max_body_bytes: int = 1_048_576
    body_timeout_s: float = 10.0  # a request body must fully arrive within this
    # Where state lives: memory (this process only), sqlite:///PATH (a file; several
    # processes on one host) or redis://HOST:PORT/DB (several hosts). `serve` defaults to
    # SERVE_STORE, a file in the working directory.
    store: str = "memory"
    workers: int = 1  # uvicorn worker processes on one store (needs a durable store)

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
        for name in _SPANS:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value <= MAX_SECONDS):  # (NaN too)
                problems.append(f"{name} must be a number from 0 to {MAX_SECONDS:g}, not {value!r}")
        if not self.body_timeout_s > 0 or not self.callback_timeout_s > 0:
            problems.append("body_timeout_s and callback_timeout_s must be > 0")
        if self.max_body_bytes < 0:
            problems.append("max_body_bytes must be ≥ 0")
        if self.callback_retries > MAX_RETRIES:
            problems.append(f"callback_retries must be at most {MAX_RETRIES}")
        if not 0 <= self.port <= 65535:
            problems.append("port must be 0–65535")
        if self.credits < 0 or self.callback_retries < 0 or self.journal_size < 1:
            problems.append("credits and callback_retries must be ≥ 0, journal_size ≥ 1")
        if self.callback_concurrency < 1 or self.callback_per_host < 1:
            problems.append("callback_concurrency and callback_per_host must be ≥ 1")
        if any(not k for k in self.api_keys):
            problems.append("an API key cannot be empty")
        if not (
            self.store == "memory"
            or self.store.startswith(("sqlite:///", "redis://", "rediss://", "unix://"))
        ):
            problems.append(
                f"store must be memory, sqlite:///PATH or redis://HOST:PORT/DB, not {self.store!r}"
            )
        if self.workers < 1:
            problems.append("workers must be ≥ 1")
        elif self.workers > 1 and self.store == "memory":
            problems.append(
                "several workers need a shared store: --store sqlite:///PATH or "
                "redis://HOST:PORT/DB (memory is one process's own)"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def base_url(self) -> str:
        """Where clients reach the fake (result URLs are built on it)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{url_host(self.host)}:{self.port}"

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


# The flag (and so the environment variable, IDEOGRAM_MOCK_<FLAG>) of each setting whose field
# name differs from its flag; every other setting's flag is its field name with dashes.
FLAG_NAMES: dict[str, str] = {
    "providers": "provider",
    "api_keys": "api-key",
    "result_ttl_s": "result-ttl",
    "download_ttl_s": "download-ttl",
    "retention_s": "retention",
    "record_delay_s": "record-delay",
    "callback_timeout_s": "callback-timeout",
    "callback_backoff_s": "callback-backoff",
    "body_timeout_s": "body-timeout",
}
LISTS = ("api_keys", "callback_hosts", "fetch_hosts", "providers")


def flag_of(field_name: str) -> str:
    """The command-line flag (without `--`) of a setting."""
    return FLAG_NAMES.get(field_name, field_name.replace("_", "-"))


def field_of(name: str) -> str | None:
    """The setting a flag, an environment suffix or a config key names (dashes, underscores,
    any case); None when it names none."""
    wanted = name.strip().lower().replace("-", "_")
    for f in dataclasses.fields(Settings):
        if wanted in (f.name, flag_of(f.name).replace("-", "_")):
            return f.name
    return None


def _convert(name: str, raw: Any, source: str) -> Any:
    """A value for setting `name`, from text (an environment variable) or a TOML value;
    ValueError naming `source` and what was expected otherwise."""
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    if name == "rate_limit":
        if raw is False or raw is None:
            return None
        try:
            return RateLimit.parse(str(raw))
        except ValueError:
            raise ValueError(f"{source}: {raw!r} is not N/S (e.g. 20/10) or off") from None
    if name in LISTS:
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(str(k).strip() for k in items if str(k).strip())
    if kind == "bool":
        text = str(raw).strip().lower()
        if isinstance(raw, bool):
            return raw
        if text in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return text in ("1", "true", "yes", "on")
        raise ValueError(f"{source}: {raw!r} is not true or false")
    if kind in ("int", "float"):
        what = "a whole number" if kind == "int" else "a number"
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"{source}: {raw!r} is not {what}")
        try:
            return int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise ValueError(f"{source}: {raw!r} is not {what}") from None
    if kind == "str | None":
        return str(raw) or None
    return str(raw)


def from_env(
    environ: Mapping[str, str] | None = None,
    base: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from `IDEOGRAM_MOCK_<NAME>` variables (the field's name, or its flag's:
    `IDEOGRAM_MOCK_RESULT_TTL` and `IDEOGRAM_MOCK_RESULT_TTL_S` both set `result_ttl_s`), then
    `overrides` on top; `base` (a config file's values) below them. A bad value raises
    ValueError naming the variable."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = dict(base or {})
    for f in dataclasses.fields(Settings):
        for suffix in {f.name.upper(), flag_of(f.name).replace("-", "_").upper()}:
            raw = environ.get(ENV_PREFIX + suffix)
            if raw is not None:
                values[f.name] = _convert(f.name, raw, ENV_PREFIX + suffix)
    # An override of None is meaningful (e.g. rate_limit=None is "off"): callers pass only
    # what they were given.
    values.update(overrides)
    return Settings(**values)


def from_toml(path: str) -> dict[str, Any]:
    """Setting values from a TOML file (keys are field or flag names, at the top level or
    under `[serve]`); ValueError naming the file and the key for anything unknown or wrong."""
    with open(path, "rb") as fh:
        try:
            document = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
    table = document.get("serve", document)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [serve] must be a table")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        name = field_of(key)
        if name is None:
            known = ", ".join(sorted(flag_of(f.name) for f in dataclasses.fields(Settings)))
            raise ValueError(f"{path}: unknown setting {key!r}; settings: {known}")
        values[name] = _convert(name, raw, f"{path}: {key}")
    return values
