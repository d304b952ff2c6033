"""The SDK's connection to a server: timeouts on every call, retries, JSON errors -> typed exceptions.

The retry policy is an httpx transport (``client/retry.py``), so plain requests, streams (server-sent
events) and downloads all get it; tests can put an ``httpx.MockTransport`` under it.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from sightline.client.retry import IDEMPOTENT, RETRY_STATUSES, RetryTransport
from sightline.errors import RequestTimeoutError, ServerConnectionError, ServerError

__all__ = ["IDEMPOTENT", "RETRY_STATUSES", "SSE_READ_TIMEOUT", "Transport", "error_from_response"]

SSE_READ_TIMEOUT = 30.0  # the server sends a keepalive every 10 s
CLIENT_HEADER = "X-Sightline-Client"  # who owns the sessions this client starts, on a server without an API key


def new_client_id() -> str:
    """A random client token: a server without an API key lets only its holder read the sessions it starts."""
    return secrets.token_urlsafe(24)


def error_from_response(response: httpx.Response) -> ServerError:
    """The typed exception for an error answer, carrying the server's message (see ``ServerError.answered``)."""
    try:
        body = response.json()
        detail = body.get("error", {}) if isinstance(body, dict) else {}
    except ValueError:
        detail = {}
    detail = detail if isinstance(detail, dict) else {}
    message = detail.get("message") or f"HTTP {response.status_code} {response.reason_phrase}"
    return ServerError.answered(response.status_code, str(message), detail)


class Transport:
    """One ``httpx.Client`` to one server, shared by a model's calls and sessions (thread-safe).

    ``http_transport`` replaces the network under the retry policy (``httpx.MockTransport`` in tests).
    ``client_id`` is sent as ``X-Sightline-Client`` with every request (a new random one by default): on a
    server without an API key, the sessions this client starts are its own, hidden from other clients.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_backoff_time: float = 30.0,
        max_concurrent_requests: int = 8,
        http_transport: httpx.BaseTransport | None = None,
        client_id: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id or new_client_id()
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_backoff_time = max_backoff_time
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_concurrent_requests + 4, max_keepalive_connections=max_concurrent_requests + 4)
        inner = http_transport if http_transport is not None else httpx.HTTPTransport(limits=limits)
        self.retry = RetryTransport(inner, max_retries=max_retries, max_backoff_time=max_backoff_time, timeout=timeout)
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=self.retry)
        self._owner = True  # closes the connection pool; a copy from with_client borrows it
        self._slots = threading.BoundedSemaphore(max_concurrent_requests)

    def with_client(self, client_id: str) -> Transport:
        """This connection (pool, retries, concurrency slots) sending another client id: the page gives each
        browser its own sessions over one connection. The copy never closes the pool."""
        other = copy.copy(self)
        other.client_id = client_id
        other._owner = False
        return other

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {CLIENT_HEADER: self.client_id, **(extra or {})}

    @property
    def retries_done(self) -> int:
        return self.retry.retries_done

    def backoff(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based), as the retry policy computes it."""
        return self.retry.backoff(attempt, retry_after)

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        """Send (with the transport's retries); returns a 2xx response or raises the typed error."""
        wait = timeout or self.timeout
        with self._slots, self._typed_errors(method, path, wait):
            response = self.client.request(method, path, timeout=wait, **{**kwargs, "headers": self._headers(kwargs.get("headers"))})
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def download(self, path: str, target: Path, *, timeout: float | None = None, params: dict[str, Any] | None = None) -> Path:
        """GET ``path`` into the file ``target`` in chunks, never whole in memory, with the retries and typed
        errors of ``request``; a transfer that breaks part-way starts again (a GET changes nothing)."""
        wait = timeout or self.timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._slots, self._typed_errors("GET", path, wait), self.client.stream("GET", path, timeout=wait, params=params, headers=self._headers()) as response:
                    if response.status_code >= 400:
                        response.read()  # the error's JSON, for error_from_response
                        raise error_from_response(response)
                    with Path(target).open("wb") as out:
                        out.writelines(response.iter_bytes())
                return Path(target)
            except (ServerConnectionError, RequestTimeoutError):
                if attempt > self.max_retries:
                    raise
                self.retry._sleep(self.backoff(attempt))

    @contextmanager
    def _typed_errors(self, method: str, path: str, wait: float) -> Iterator[None]:
        """httpx's failures to get an answer, as sightline's ``TransportError`` branch."""
        try:
            yield
        except httpx.TimeoutException:
            raise RequestTimeoutError(f"{method} {path}: no answer from {self.url} within {wait:g} s") from None
        except httpx.TransportError as exc:
            raise ServerConnectionError(f"{method} {path}: cannot reach the server at {self.url} ({exc.__class__.__name__}: {exc})") from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    @contextmanager
    def stream(self, path: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Iterator[httpx.Response]:
        """An open streaming GET (for server-sent events); errors raise like ``request``."""
        try:
            with self.client.stream("GET", path, params=params, headers=self._headers(headers), timeout=httpx.Timeout(self.timeout, read=SSE_READ_TIMEOUT)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise ServerConnectionError(f"GET {path}: the stream from {self.url} broke ({exc.__class__.__name__}: {exc})") from None

    def close(self) -> None:
        """Close the connection pool; every handle sharing this transport loses it (only its owner calls this;
        a copy from ``with_client`` leaves it open)."""
        if self._owner:
            self.client.close()
