"""What a public server refuses: wrong API keys, and URLs pointing inside the network."""

from __future__ import annotations

import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from fastapi import Request

from sightline.errors import AuthenticationError, InputError


def check_api_key(request: Request, expected: str | None) -> None:
    """Bearer-token check in constant time; no key configured means an open server."""
    if not expected:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AuthenticationError("missing or wrong API key: send 'Authorization: Bearer <key>'", 401)


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


def check_url(url: str, allow_private: bool) -> None:
    """Refuse non-HTTP URLs, and (unless allowed) hosts that resolve to loopback or private addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"URL {url!r} must be an absolute http:// or https:// URL")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"URL {url!r}: host {parts.hostname!r} could not be resolved ({exc.strerror})") from None
    for info in infos:
        if _is_private(info[4][0]):
            raise InputError(
                f"URL {url!r} points to a private or loopback address ({info[4][0]}); this server only fetches public "
                "URLs (set SIGHTLINE_ALLOW_PRIVATE_URLS=1 on a trusted server)"
            )

