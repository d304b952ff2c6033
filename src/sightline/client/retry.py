"""The client's retry policy as an httpx transport, so every request, stream and download gets it.

Retried: 429, 503 and 504 answers (the server did not do the work) and failures to connect, for every
method; read failures only for idempotent methods, so a POST is never applied twice. Waits grow
exponentially with jitter up to ``max_backoff_time``, a server's ``Retry-After`` (seconds or a date)
replaces the computed wait within that cap, and no retry starts after the request's deadline.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (it may be a number or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


class RetryTransport(httpx.BaseTransport):
    """Wraps another transport (the network's, or ``httpx.MockTransport`` in tests) with the retry policy.

    A request's deadline is ``2 × max_backoff_time + timeout × (max_retries + 1)`` from its first attempt.
    ``retries_done`` counts retries over the transport's life.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        max_retries: int = 5,
        max_backoff_time: float = 30.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner if inner is not None else httpx.HTTPTransport()
        self.max_retries = max_retries
        self.max_backoff_time = max_backoff_time
        self.timeout = timeout
        self._sleep = sleep
        self._lock = threading.Lock()
        self.retries_done = 0

    def backoff(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): the server's word, else exponential with jitter; capped."""
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            return min(asked, self.max_backoff_time)
        return min(self.max_backoff_time, 0.25 * 2.0 ** (attempt - 1)) * random.uniform(0.75, 1.25)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        wait = max((t for t in timeouts.values() if t is not None), default=self.timeout)
        deadline = time.monotonic() + self.max_backoff_time * 2 + wait * (self.max_retries + 1)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.inner.handle_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.TransportError) as exc:
                # a connection never made did nothing; a broken read may have, so only idempotent methods retry it
                safe = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or request.method in IDEMPOTENT
                if safe and self._may_retry(attempt, deadline):
                    continue
                raise
            if response.status_code in RETRY_STATUSES and self._may_retry(attempt, deadline, response.headers.get("retry-after"), response):
                continue
            return response

    def _may_retry(self, attempt: int, deadline: float, retry_after: str | None = None, response: httpx.Response | None = None) -> bool:
        if attempt > self.max_retries:
            return False
        wait = self.backoff(attempt, retry_after)
        if time.monotonic() + wait > deadline:
            return False
        if response is not None:
            response.close()  # give its connection back before waiting
        with self._lock:
            self.retries_done += 1
        self._sleep(wait)
        return True

    def close(self) -> None:
        self.inner.close()
