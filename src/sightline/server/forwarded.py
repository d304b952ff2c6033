"""The address of the visitor behind a request: ``X-Forwarded-For`` is believed only from proxies the
operator names (``SIGHTLINE_TRUSTED_PROXIES``), since anyone else can write any address into it.

uvicorn's own proxy handling (which trusts 127.0.0.1 by default) is turned off where sightline starts
uvicorn (``server/run.py``), so this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """Addresses or CIDR ranges (``10.0.0.0/8``, ``::1``); raises ``ValueError`` naming a bad one."""
    out = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {value!r} is not an IP address or CIDR range") from None
    return out


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: Any, networks: list[Network]) -> bool:
    return address is not None and any(address in n for n in networks)


def visitor_address(scope: Mapping[str, Any], trusted: list[Network]) -> str:
    """The TCP peer, or, when that peer is a trusted proxy, the nearest address in ``X-Forwarded-For``
    that is not one of the trusted proxies (read from the right: each proxy appends the address it saw)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _trusted(_address(peer), trusted):
        return peer
    forwarded = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"x-forwarded-for"]
    hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
    nearest = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # a malformed entry: nothing written before it can be believed
            return nearest
        nearest = str(address)
        if not _trusted(address, trusted):
            return nearest
    return nearest  # every hop is a trusted proxy: the farthest one
