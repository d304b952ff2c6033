"""The server's open live streams: a bounded number, each closed once nobody used it for a while.

A client that opens a stream and goes away (a closed tab, a crashed script) never says so: its stream
is closed by ``sweep`` after ``idle_s`` without a frame or a status read, and ``close_all`` closes every
stream when the server shuts down.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sightline.engine.live import LiveStream
from sightline.errors import NotFoundError, RateLimitedError


@dataclass
class _Entry:
    stream: LiveStream
    last_used: float = field(default_factory=time.monotonic)


class LiveStreams:
    def __init__(self, max_streams: int = 8, idle_s: float = 60.0) -> None:
        self.max_streams = max_streams
        self.idle_s = idle_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def open(self, make: Callable[[], LiveStream]) -> str:
        """Start a stream made by ``make`` (blocking: it sweeps first, so abandoned streams make room)."""
        self.sweep()
        with self._lock:
            if len(self._entries) >= self.max_streams:
                raise RateLimitedError(
                    f"{len(self._entries)} live streams are open, the server's limit is {self.max_streams} "
                    f"(max_live_streams); an unused stream closes after {self.idle_s:g} s", 429
                )
            sid = uuid.uuid4().hex
            self._entries[sid] = _Entry(make())
        return sid

    def get(self, sid: str) -> LiveStream:
        """The stream, marked as used now."""
        with self._lock:
            entry = self._entries.get(sid)
            if entry is not None:
                entry.last_used = time.monotonic()
        if entry is None:
            raise NotFoundError(
                f"no live stream {sid!r}: it never existed, was closed, or expired after {self.idle_s:g} s unused", 404
            )
        return entry.stream

    def remove(self, sid: str) -> LiveStream:
        """Take a stream out of the server (the caller closes it)."""
        with self._lock:
            entry = self._entries.pop(sid, None)
        if entry is None:
            raise NotFoundError(f"no live stream {sid!r}")
        return entry.stream

    def list(self) -> list[LiveStream]:
        with self._lock:
            return [e.stream for e in self._entries.values()]

    def sweep(self) -> None:
        """Close streams unused for ``idle_s`` (blocking: each close joins the stream's thread)."""
        now = time.monotonic()
        with self._lock:
            idle = [sid for sid, e in self._entries.items() if now - e.last_used > self.idle_s]
            expired = [self._entries.pop(sid).stream for sid in idle]
        for stream in expired:
            stream.close()

    def close_all(self) -> None:
        with self._lock:
            streams = [e.stream for e in self._entries.values()]
            self._entries.clear()
        for stream in streams:
            stream.close()
