"""What a provider brings: its name, its spec, the hosts it answers on, and where its core
dialect and its web API live (imported when the fake is built)."""

from __future__ import annotations

import base64
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ideogram_mock.core.dialect import Dialect
    from ideogram_mock.core.engine import Fake
    from ideogram_mock.settings import Settings


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Provider:
    """One reseller's dialect of the Ideogram Character API."""

    name: str
    spec: str  # a file in openapi/
    hosts: tuple[str, ...]  # the real service's base URLs (the first is the canonical one)
    dialect: str  # "module:Class" of its core dialect, built from Settings
    api: str  # "module:Class" of its web API, built from the Fake
    entry: str  # the path a person tries first (printed at start-up)
    # The header that carries a key: its name, and its value with `{key}` in it (or `{basic}`:
    # base64 of `key:secret`, the key being what names the account).
    key_header: tuple[str, str] = ("Authorization", "Bearer {key}")

    def auth(self, api_key: str, secret: str = "test-secret") -> dict[str, str]:
        """The request header that authenticates `api_key` with this provider."""
        name, value = self.key_header
        basic = base64.b64encode(f"{api_key}:{secret}".encode()).decode()
        return {name: value.format(key=api_key, basic=basic)}

    def make_dialect(self, settings: Settings) -> Dialect:
        dialect: Dialect = _load(self.dialect)(settings)
        return dialect

    def make_api(self, fake: Fake) -> Any:
        return _load(self.api)(fake)
