"""What a public server refuses: wrong API keys, and URLs pointing inside the network."""

from __future__ import annotations

import hmac

from fastapi import Request

from sightline.errors import AuthenticationError
from sightline.inputs.url_policy import check_target


def check_api_key(request: Request, expected: str | None) -> None:
    """Bearer-token check in constant time; no key configured means an open server."""
    if not expected:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AuthenticationError("missing or wrong API key: send 'Authorization: Bearer <key>'", 401)


def check_url(url: str, allow_private: bool) -> None:
    """Refuse non-HTTP URLs, and (unless allowed) hosts with any address that is not public.

    A check only: whoever then connects must not resolve the host again. The server's own fetches go
    through ``sightline.inputs.urls.fetch_bytes``, which checks every redirect hop and pins the address."""
    check_target(url, allow_private)

