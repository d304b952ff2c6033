"""Which URLs a fetch may follow: the scheme, the host's addresses, and why an address is refused.

A public server fetches only globally routable addresses. IPv6 has several ways of carrying an IPv4
address inside it (mapped, compatible, NAT64, 6to4); each is judged by the IPv4 address it carries,
or refused outright when the form is deprecated or local by definition (compatible, local-use NAT64,
Teredo), so ``[::7f00:1]`` or ``[64:ff9b::a9fe:a9fe]`` cannot reach loopback or cloud metadata.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from sightline.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local use only
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible form (also :: and ::1)
_TEREDO = ipaddress.IPv6Network("2001::/32")  # the client address inside is obfuscated: refuse
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated, still routed inside some networks

# IANA special-purpose registries (IPv4 and IPv6), refused whatever the running Python's ``ipaddress`` tables say
# (3.11's let 192.0.0.0/24 and 3fff::/20 pass as global). Anycast services inside some of them serve no images.
SPECIAL_PURPOSE = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001:db8::/32",
    "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))

PRIVATE_HINT = "this server only fetches public URLs (set SIGHTLINE_ALLOW_PRIVATE_URLS=1 on a trusted server)"


def address_refusal(address: str | IPAddress) -> str | None:
    """Why ``address`` is not a public destination (``None`` when it is globally routable)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _refusal_v4(ip.ipv4_mapped, "an IPv4-mapped IPv6 address of ")
        if ip in _COMPATIBLE:
            return "an IPv4-compatible or unspecified IPv6 address" if not ip.is_loopback else "a loopback address"
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        if ip in _NAT64:
            return _refusal_v4(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "a NAT64 address of ")
        if ip in _TEREDO:
            return "a Teredo tunnel address"
        if ip.sixtofour is not None:
            return _refusal_v4(ip.sixtofour, "a 6to4 address of ")
        if ip in _SITE_LOCAL:
            return "a site-local address"
    return _refusal_plain(ip)


def _refusal_v4(ip: ipaddress.IPv4Address, prefix: str) -> str | None:
    reason = _refusal_plain(ip)
    return None if reason is None else f"{prefix}{ip}, {reason}"


def _refusal_plain(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global or any(ip in net for net in SPECIAL_PURPOSE if net.version == ip.version):
        return "a reserved or non-public address"
    return None


@dataclass(frozen=True)
class Target:
    """One hop of a fetch: the URL, its host and port, and the addresses it resolved to (checked)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_scheme(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL; ``InputError`` otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InputError(f"URL {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"URL {url!r} must be an absolute http:// or https:// URL")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` in the resolver's order (one lookup; tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_target(url: str, allow_private: bool) -> Target:
    """Resolve ``url``'s host once and, unless ``allow_private``, refuse it if any address is not public.

    The caller must connect only to ``Target.addresses``: resolving again could answer differently
    (DNS rebinding)."""
    scheme, host, port = check_scheme(url)
    try:
        addresses = resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "not a valid host name"
        raise InputError(f"URL {url!r}: host {host!r} could not be resolved ({reason})") from None
    if not addresses:
        raise InputError(f"URL {url!r}: host {host!r} has no address")
    if not allow_private:
        for address in addresses:
            reason = address_refusal(address)
            if reason is not None:
                raise InputError(f"URL {url!r} points to a private or loopback address ({address}: {reason}); {PRIVATE_HINT}")
    return Target(url, scheme, host, port, tuple(addresses))
