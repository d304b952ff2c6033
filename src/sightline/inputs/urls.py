"""Fetching images by URL with httpx: a timeout on every request and a cap on the bytes read."""

from __future__ import annotations

import httpx

DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class FetchError(ValueError):
    """The URL could not be fetched; the message says what happened."""


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def fetch_bytes(url: str, *, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """GET ``url`` and return its body; raises ``FetchError`` on any network, status or size problem."""
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code >= 400:
                raise FetchError(f"the server answered HTTP {response.status_code} {response.reason_phrase}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"the file is {int(declared):,} bytes, over the limit of {max_bytes:,}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"the file is over the limit of {max_bytes:,} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"could not connect ({exc.__class__.__name__}: {exc})") from None
