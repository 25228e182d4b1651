"""What the kit runs against, from environment variables (the same code serves every target).

- `CONTRACT_URL`: a server speaking the API over HTTP (the fake, a proxy…); unset: the fake
  in-process. `CONTRACT_API_KEY`, `CONTRACT_OTHER_API_KEY`: its keys (default: made up for the
  run, `contract-kit-<hex>` and `…-other`, and forgotten on the target at the end).
- `KIT_TARGET=live` with `<P>_BASE_URL` and `<P>_API_KEY` (`<P>` the provider: `KIE`,
  `SEGMIND`): the real endpoint. `<P>_OTHER_API_KEY`: a second key for the "invisible to
  other keys" check; `<P>_MAX_TASKS`: most tasks the run may create (default 3);
  `<P>_API_SECRET` (Scenario): the secret paired with the key;
  `<P>_READ_ONLY=1`: spend no credits (credit, unknown ids, auth and validation errors only);
  `CALLBACK_PUBLIC_URL`, `CALLBACK_PORT` (kie): where the real service can reach the kit's
  receiver.
- `KIE_WEBHOOK_HMAC_KEY`: verify callback signatures with this key.
- `KIT_HTTP_STATUS`: `auto` (default: observe, expect the spec's envelope convention),
  `envelope` or `mirror`.
- `KIT_MAX_EXAMPLES`: generated cases per operation and phase (default 50 in-process, 20 over
  HTTP, 3 live). `KIT_POLL_SECONDS`, `KIT_LIFECYCLE_TIMEOUT`: polling without a control API.
  `KIT_MIN_INTERVAL`: live, seconds between requests (default 0.15, under 10 requests/s).
- `KIT_FINDINGS`: write the findings (JSON) here at the end of the run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FAKE_HMAC_KEY = "contract-kit-hmac"


@dataclass(frozen=True)
class KitConfig:
    mode: str  # inprocess | http | live
    base_url: str
    api_key: str
    other_api_key: str | None
    api_secret: str  # Scenario's Basic auth pairs the key with a secret
    own_keys: bool  # keys the kit made up for this run (forgotten on the target at the end)
    read_only: bool
    max_tasks: int | None
    callback_public_url: str | None
    callback_port: int
    hmac_key: str | None
    convention: str
    max_examples: int
    poll_seconds: float
    lifecycle_timeout_s: float
    min_interval_s: float
    findings_path: str | None

    @property
    def live(self) -> bool:
        return self.mode == "live"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, provider: str = "kie") -> KitConfig:
        from ideogram_mock.providers import PROVIDERS

        env = os.environ if env is None else env
        p = provider.upper()
        live = env.get("KIT_TARGET") == "live"
        url = env.get("CONTRACT_URL", "").strip()
        common: dict[str, Any] = {
            "convention": env.get("KIT_HTTP_STATUS", "auto"),
            "poll_seconds": float(env.get("KIT_POLL_SECONDS", "3")),
            "lifecycle_timeout_s": float(env.get("KIT_LIFECYCLE_TIMEOUT", "300")),
            "findings_path": env.get("KIT_FINDINGS") or None,
            "callback_port": int(env.get("CALLBACK_PORT", "0")),
        }
        if common["convention"] not in ("auto", "envelope", "mirror"):
            raise ValueError("KIT_HTTP_STATUS must be auto, envelope or mirror")
        if live:
            base, key = env.get(f"{p}_BASE_URL", ""), env.get(f"{p}_API_KEY", "")
            if not base or not key:
                raise ValueError(f"KIT_TARGET=live needs {p}_BASE_URL and {p}_API_KEY")
            return cls(
                mode="live",
                base_url=base.rstrip("/"),
                api_key=key,
                other_api_key=env.get(f"{p}_OTHER_API_KEY") or None,
                api_secret=env.get(f"{p}_API_SECRET", ""),
                own_keys=False,
                read_only=env.get(f"{p}_READ_ONLY", "0") not in ("0", "", "false"),
                max_tasks=int(env.get(f"{p}_MAX_TASKS", "3")),
                callback_public_url=env.get("CALLBACK_PUBLIC_URL") or None,
                hmac_key=env.get("KIE_WEBHOOK_HMAC_KEY") or None,
                max_examples=int(env.get("KIT_MAX_EXAMPLES", "3")),
                # recordInfo: 10 requests/s per key; stay well under it.
                min_interval_s=float(env.get("KIT_MIN_INTERVAL", "0.15")),
                **common,
            )
        # Keys of this run only, so a shared fake can be left as it was found.
        run_key = f"contract-kit-{secrets.token_hex(4)}" if url else "contract-kit"
        return cls(
            mode="http" if url else "inprocess",
            base_url=url.rstrip("/") if url else PROVIDERS[provider].hosts[0],
            api_key=env.get("CONTRACT_API_KEY") or run_key,
            other_api_key=env.get("CONTRACT_OTHER_API_KEY") or f"{run_key}-other",
            api_secret=env.get("CONTRACT_API_SECRET", "contract-kit-secret"),
            own_keys=not env.get("CONTRACT_API_KEY"),
            read_only=False,
            max_tasks=None,
            callback_public_url=None,
            hmac_key=(env.get("KIE_WEBHOOK_HMAC_KEY") or None) if url else FAKE_HMAC_KEY,
            max_examples=int(env.get("KIT_MAX_EXAMPLES", "50" if not url else "20")),
            min_interval_s=0.0,
            **common,
        )
