"""Fetching images by URL: every hop checked, the connection pinned to the checked address, one deadline
for the whole fetch and a cap on the bytes read.

httpx resolves a host again when it connects and follows redirects without asking, so a URL checked
as public could still reach loopback (a redirect, or DNS rebinding between the check and the connect).
Here each hop is resolved once (``url_policy.check_target``), httpcore connects through a network
backend that only dials those addresses (TLS still verifies and sends SNI for the URL's host name), and
redirects are followed by this module, each one checked the same way.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import typing
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx

from sightline.errors import InputError
from sightline.inputs.url_policy import Target, check_target

DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
USER_AGENT = b"sightline"


class FetchError(InputError):
    """The URL could not be fetched; the message names the URL and says what happened."""


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


class Deadline:
    """One time limit for a whole fetch: every connect, TLS handshake and read gets the time left."""

    def __init__(self, seconds: float, started: float | None = None) -> None:
        self.seconds = seconds
        self.end = (time.monotonic() if started is None else started) + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def cap(self, timeout: float | None) -> float:
        left = self.left()
        if left <= 0:
            raise httpcore.ReadTimeout("the fetch's deadline has passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most until the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.cap(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.cap(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: typing.Any, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, self._deadline.cap(timeout)), self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Dials only the addresses checked for this hop, never a fresh lookup of the host name."""

    def __init__(self, target: Target, deadline: Deadline) -> None:
        self._target = target
        self._deadline = deadline
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: typing.Any = None) -> httpcore.NetworkStream:
        if host.strip("[]").lower() != self._target.host.strip("[]").lower() or port != self._target.port:
            raise httpcore.ConnectError(f"refusing to connect to {host}:{port}, which was not checked")
        error: Exception | None = None
        for address in self._target.addresses:
            try:
                stream = self._tcp.connect_tcp(address, port, self._deadline.cap(timeout), local_address, socket_options)
                return _DeadlineStream(stream, self._deadline)
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: typing.Any = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


_ssl_context = None


def _ssl() -> typing.Any:
    global _ssl_context
    if _ssl_context is None:  # building it reads the CA bundle: once per process
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


def _parse(url: str, original: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise FetchError(f"URL {original!r} is not a valid URL") from None


@contextlib.contextmanager
def _reasons(url: str, timeout: float) -> Iterator[None]:
    """httpcore's errors as ``FetchError`` in words naming the URL."""
    try:
        yield
    except httpcore.TimeoutException:
        raise FetchError(f"URL {url!r}: no complete answer within {timeout:g} s (the host is too slow)") from None
    except httpcore.ProtocolError as exc:
        raise FetchError(f"URL {url!r}: the host broke the HTTP protocol ({exc.__class__.__name__}: {exc})") from None
    except (httpcore.NetworkError, OSError) as exc:
        raise FetchError(f"URL {url!r}: could not connect ({exc.__class__.__name__}: {exc})") from None


@contextlib.contextmanager
def _pinned(target: Target, url: httpx.URL, deadline: Deadline, method: bytes, headers: list[tuple[bytes, bytes]], content: bytes | None = None) -> Iterator[httpcore.Response]:
    """One request over a fresh connection to ``target``'s checked addresses (never pooled across hops)."""
    request_url = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
    headers = [(b"Host", url.netloc), (b"User-Agent", USER_AGENT), *headers]
    left = deadline.cap(None)
    timeouts = {"connect": left, "read": left, "write": left, "pool": left}
    with httpcore.ConnectionPool(ssl_context=_ssl(), network_backend=_PinnedBackend(target, deadline), max_connections=1, retries=0) as pool:
        with pool.stream(method, request_url, headers=headers, content=content, extensions={"timeout": timeouts}) as response:
            yield response


def _header(response: httpcore.Response, name: bytes) -> bytes:
    return next((v for k, v in response.headers if k.lower() == name), b"")


def fetch_bytes(
    url: str, *, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES, allow_private: bool = True, started: float | None = None
) -> bytes:
    """GET ``url`` and return its body; ``FetchError`` on any refusal, network, status, size or time problem.

    ``timeout`` bounds the whole fetch, redirects included, counted from ``started`` (a ``time.monotonic()``,
    default now). Unless ``allow_private``, every hop must resolve only to public addresses."""
    deadline = Deadline(timeout, started)
    current, location = _parse(url, url), url
    for hop in range(MAX_REDIRECTS + 1):
        try:
            target = check_target(str(current), allow_private)
        except InputError as exc:
            if hop == 0:
                raise FetchError(str(exc)) from None
            raise FetchError(f"URL {url!r} redirects to {location!r}, which is refused: {exc}") from None
        with _reasons(url, timeout):
            answer = _get(target, current, deadline, max_bytes, url)
        if isinstance(answer, bytes):
            return answer
        current, location = _parse(str(current.join(answer)), url), answer
    raise FetchError(f"URL {url!r}: more than {MAX_REDIRECTS} redirects")


def _get(target: Target, url: httpx.URL, deadline: Deadline, max_bytes: int, original: str) -> bytes | str:
    """One hop: the body, or the ``Location`` of a redirect."""
    with _pinned(target, url, deadline, b"GET", [(b"Accept", b"image/*, */*;q=0.5")]) as response:
        if response.status in REDIRECT_STATUSES:
            location = _header(response, b"location")
            if not location:
                raise FetchError(f"URL {original!r}: a redirect (HTTP {response.status}) without a Location")
            return location.decode("latin-1")
        if response.status >= 300:
            reason = response.extensions.get("reason_phrase", b"").decode("latin-1", "replace")
            raise FetchError(f"URL {original!r}: the server answered HTTP {response.status} {reason}".rstrip())
        declared = _header(response, b"content-length")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"URL {original!r}: the file is {int(declared):,} bytes, over the limit of {max_bytes:,}")
        chunks, size = [], 0
        for chunk in response.iter_stream():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"URL {original!r}: the file is over the limit of {max_bytes:,} bytes")
            chunks.append(chunk)
            deadline.cap(None)
        return b"".join(chunks)


def post_json(url: str, body: Any, *, auth: tuple[str, str] | None = None, timeout: float = 10.0, allow_private: bool = True) -> int:
    """POST ``body`` as JSON to ``url`` (no redirects followed), pinned like a fetch; returns the HTTP status.
    ``FetchError`` when the URL is refused or the host cannot be reached in time."""
    deadline = Deadline(timeout)
    try:
        target = check_target(url, allow_private)
    except InputError as exc:
        raise FetchError(str(exc)) from None
    headers = [(b"Content-Type", b"application/json")]
    if auth is not None:
        headers.append((b"Authorization", b"Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode())))
    with _reasons(url, timeout), _pinned(target, _parse(url, url), deadline, b"POST", headers, json.dumps(body).encode()) as response:
        response.read()
        return response.status
