"""Which hosts the fake may reach on its own (callbacks, and input downloads with
`fetch_inputs`): names, IP networks (CIDR), or `*` for any. A name is matched as written, never
resolved, so a DNS name reaches nothing unless it is listed."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class HostPolicy:
    """A set of reachable hosts."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.any = "*" in allowed
        self.names = {a.lower() for a in allowed if not _is_network(a)}
        self.networks = [ipaddress.ip_network(a, strict=False) for a in allowed if _is_network(a)]

    def allows(self, url: str) -> bool:
        if self.any:
            return True
        host = (urlsplit(url).hostname or "").lower()
        if host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.networks)


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
