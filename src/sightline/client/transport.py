"""HTTP transport: timeouts on every call, retries with exponential backoff, JSON errors -> typed exceptions.

Retried: 429, 503 and 504 answers (the server did not do the work) and failures to connect, for every
method; read failures only for idempotent methods, so a POST is never applied twice.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from sightline.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    InsufficientStorageError,
    InvalidSettingError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestTimeoutError,
    ServerConnectionError,
    ServerError,
    ServiceUnavailableError,
    UnknownArgumentError,
)

RETRY_STATUSES = {429, 503, 504}
ERROR_BY_STATUS: dict[int, type[ServerError]] = {
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
    504: RequestTimeoutError,
    507: InsufficientStorageError,
}
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "DELETE", "PUT"}
SSE_READ_TIMEOUT = 30.0  # the server sends a keepalive every 10 s


def error_from_response(response: httpx.Response) -> ServerError:
    """The typed exception for an error answer, carrying the server's message."""
    try:
        detail = response.json().get("error", {})
    except ValueError:
        detail = {}
    message = detail.get("message") or f"HTTP {response.status_code} {response.reason_phrase}"
    kind = detail.get("type", "")
    status = response.status_code
    cls = ERROR_BY_STATUS.get(status)
    if cls is not None:
        return cls(message, status, detail)
    if status in (400, 422):
        # the server's argument errors become the same built-in-compatible types a local model raises
        cls = {"UnknownArgumentError": UnknownArgumentError, "InvalidSettingError": InvalidSettingError}.get(kind, InputError)
        exc = cls(message)
        exc.status, exc.detail = status, detail  # type: ignore[attr-defined]
        return exc  # type: ignore[return-value]
    return ServerError(message, status, detail)


class Transport:
    """One ``httpx.Client`` to one server, shared by a model's calls and sessions (thread-safe)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_backoff_time: float = 30.0,
        max_concurrent_requests: int = 8,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_backoff_time = max_backoff_time
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_concurrent_requests + 4, max_keepalive_connections=max_concurrent_requests + 4)
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, limits=limits)
        self._slots = threading.BoundedSemaphore(max_concurrent_requests)
        self.retries_done = 0

    def backoff(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): exponential with jitter, capped."""
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff_time)
            except ValueError:
                pass
        return min(self.max_backoff_time, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns a 2xx response or raises the typed error."""
        return self._with_retries(method, path, timeout, lambda t: self.client.request(method, path, timeout=t, **kwargs))

    def download(self, path: str, target: Path, *, timeout: float | None = None) -> Path:
        """GET ``path`` into the file ``target`` in chunks, never whole in memory, with the retries and typed
        errors of ``request``; a transfer that breaks part-way starts again (a GET changes nothing)."""

        def fetch(t: float) -> httpx.Response:
            with self.client.stream("GET", path, timeout=t) as response:
                if response.status_code >= 400:
                    response.read()  # the error's JSON, for error_from_response
                    return response
                with Path(target).open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                return response

        self._with_retries("GET", path, timeout, fetch)
        return Path(target)

    def _with_retries(self, method: str, path: str, timeout: float | None, send: Callable[[float], httpx.Response]) -> httpx.Response:
        attempt = 0
        wait = timeout or self.timeout
        deadline = time.monotonic() + self.max_backoff_time * 2 + wait * (self.max_retries + 1)
        while True:
            attempt += 1
            try:
                with self._slots:
                    response = send(wait)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) or method in IDEMPOTENT:
                    if self._may_retry(attempt, deadline):
                        continue
                raise RequestTimeoutError(f"{method} {path}: no answer from {self.url} within {wait:g} s") from None
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.ConnectError) or method in IDEMPOTENT:
                    if self._may_retry(attempt, deadline):
                        continue
                raise ServerConnectionError(f"{method} {path}: cannot reach the server at {self.url} ({exc.__class__.__name__}: {exc})") from None
            if response.status_code in RETRY_STATUSES and self._may_retry(attempt, deadline, response.headers.get("retry-after")):
                continue
            if response.status_code >= 400:
                raise error_from_response(response)
            return response

    def _may_retry(self, attempt: int, deadline: float, retry_after: str | None = None) -> bool:
        if attempt > self.max_retries:
            return False
        wait = self.backoff(attempt, retry_after)
        if time.monotonic() + wait > deadline:
            return False
        self.retries_done += 1
        time.sleep(wait)
        return True

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    @contextmanager
    def stream(self, path: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Iterator[httpx.Response]:
        """An open streaming GET (for server-sent events); errors raise like ``request``."""
        try:
            with self.client.stream("GET", path, params=params, headers=headers, timeout=httpx.Timeout(self.timeout, read=SSE_READ_TIMEOUT)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise ServerConnectionError(f"GET {path}: the stream from {self.url} broke ({exc.__class__.__name__}: {exc})") from None

    def close(self) -> None:
        """Close the connection pool; every handle sharing this transport loses it (only its owner calls this)."""
        self.client.close()
