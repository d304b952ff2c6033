"""The server's URL fetches, on a small thread pool of their own with a bounded queue.

A slow or trickling host holds one of these threads until the fetch's deadline, never one of
Starlette's shared thread-pool tokens, so health checks and other requests keep their threads. When
every worker is busy and the queue is full, a new fetch is refused at once ("try again") instead of
waiting without bound. The deadline counts from submission, so a queued fetch that waits long for a
worker has less time left, and every URL item ends within ``url_timeout_s``.

Who ends it: ``create_app``'s lifespan calls ``close()`` at shutdown; running fetches end by their
deadline, queued ones are cancelled.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sightline.errors import RateLimitedError
from sightline.inputs.images import decode_image_bytes
from sightline.inputs.urls import FetchError, fetch_bytes
from sightline.server.config import ServerConfig

BUSY_MESSAGE = "too many URL fetches in flight on this server, try again in a few seconds"


class UrlFetchPool:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.capacity = config.url_fetch_workers + config.url_fetch_queue
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._executor = ThreadPoolExecutor(max_workers=config.url_fetch_workers, thread_name_prefix="sightline-url")

    def submit_image(self, url: str, wait_s: float = 0.0) -> Future:
        """A future of the decoded RGB image at ``url``. ``RateLimitedError`` (429) when the pool stays full for
        ``wait_s`` seconds (0: refuse at once)."""
        acquired = self._slots.acquire(timeout=wait_s) if wait_s > 0 else self._slots.acquire(blocking=False)
        if not acquired:
            raise RateLimitedError(f"URL {url!r}: {BUSY_MESSAGE}")
        submitted = time.monotonic()
        try:
            future = self._executor.submit(self._fetch_image, url, submitted)
        except RuntimeError:  # shut down
            self._slots.release()
            raise RateLimitedError(f"URL {url!r}: the server is shutting down") from None
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def image_blocking(self, url: str) -> Any:
        """The image, for a thread of its own (a session's loader); waits for room as long as a fetch may take."""
        timeout = self.config.url_timeout_s
        return self.submit_image(url, wait_s=timeout).result(timeout=timeout + 5)  # the fetch ends by its deadline

    def _fetch_image(self, url: str, submitted: float) -> Any:
        timeout = self.config.url_timeout_s
        if time.monotonic() - submitted >= timeout:
            raise FetchError(f"URL {url!r}: waited {timeout:g} s for a free URL fetcher; {BUSY_MESSAGE}")
        data = fetch_bytes(url, timeout=timeout, started=submitted, max_bytes=self.config.max_url_bytes, allow_private=self.config.allow_private_urls)
        return decode_image_bytes(data, self.config.max_image_pixels)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
