"""Sessions shared by several server processes on one database (Ray Serve's HTTP replicas).

- ``SharedUploads``: a session's input as rows of ``server_session_items``: any process queues uploads,
  the process running the session reads them in order from a cursor position.
- ``SharedRun``: a session seen from a process that does not run it: status and results read from the
  database, a stop asked through it.
- ``LeaseKeeper``: the thread that renews this process's leases, stops what it no longer owns or was asked
  to stop, and hands lapsed sessions to ``on_lapsed`` (the app resumes them here).

How the pieces fit: docs/scale-out.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sightline.engine.status import SessionState, SessionStatus
from sightline.inputs.items import InputItem, InputPlan
from sightline.server.session_db import SessionDB
from sightline.server.uploads import Upload, expand_upload
from sightline.settings import InputOptions
from sightline.video.probe import probe_video
from sightline.video.sampling import frame_window

log = logging.getLogger("sightline.server")

POLL_ITEMS_S = 0.1  # how often the running process looks for newly queued uploads
READ_CACHE_S = 0.05  # a status read serves the calls of this long (an event stream checks several times per tick)
JOIN_POLL_S = 0.1
STOP_POLL_S = 0.1  # how soon the running process sees a stop asked through another one (one indexed query)


class _LiveRow:
    """One read of a session's row and counts, shared by the calls of ``READ_CACHE_S``."""

    def __init__(self, db: SessionDB, sid: str) -> None:
        self.db, self.sid = db, sid
        self._at = -1.0
        self._value: Any = None
        self._lock = threading.Lock()

    def get(self, fresh: bool = False) -> Any:
        with self._lock:
            if fresh or time.monotonic() - self._at > READ_CACHE_S:
                self._value = self.db.live(self.sid)
                self._at = time.monotonic()
            return self._value


class SharedUploads:
    """The ``UploadPlan`` interface over the items table: ``add`` and ``close`` from any process, and
    ``as_plan`` for the process running the session (from cursor ``start``, its items not yet finished)."""

    def __init__(self, db: SessionDB, sid: str, options: InputOptions, fetch_image: Callable[[str], Any], max_pixels: int,
                 start: int = 0) -> None:
        self.db, self.sid, self.options = db, sid, options
        self.fetch_image, self.max_pixels = fetch_image, max_pixels
        self.start = start
        self._live = _LiveRow(db, sid)
        self._cancelled = threading.Event()
        # set by add, close and cancel in this process, so the reader looks at once; items queued through
        # another process are found within POLL_ITEMS_S
        self._wake = threading.Event()

    def _row(self) -> Any:
        live = self._live.get()
        return None if live is None else live[0]

    @property
    def closed(self) -> bool:
        row = self._row()
        return row is None or bool(row.input_closed)

    @property
    def received(self) -> int:
        row = self._row()
        return 0 if row is None else int(row.received)

    @property
    def total(self) -> int:
        row = self._row()
        return 0 if row is None else int(row.total)

    @property
    def pending(self) -> int:
        live = self._live.get()
        return 0 if live is None else self.db.pending_items(self.sid, live[1])

    def frames_in(self, path: Path, name: str | None = None) -> int:
        return len(frame_window(probe_video(path, name, self.max_pixels), self.options))

    def add(self, upload: Upload, items: int) -> None:
        self.db.add_item(self.sid, upload.kind, upload.meta, items, str(upload.path) if upload.path else None, upload.url, upload.error)
        self._live.get(fresh=True)
        self._wake.set()

    def close(self) -> None:
        self.db.close_input(self.sid)
        self._live.get(fresh=True)
        self._wake.set()

    def cancel(self) -> None:
        """The running process stops reading (a stop, a lost lease, shutdown)."""
        self._cancelled.set()
        self._wake.set()

    def as_plan(self, description: str, total: int) -> InputPlan:
        return InputPlan(total=total, description=description, produce=self._produce)

    def _produce(self) -> Iterator[InputItem]:
        position = self.start
        while not self._cancelled.is_set():
            self._wake.clear()  # before the query: an item added after it sets it again, and is read next
            rows = self.db.items(self.sid, position)
            for row in rows:
                upload = Upload(row.kind, dict(row.meta or {}), path=Path(row.path) if row.path else None, url=row.url, error=row.error)
                skip = max(0, position - row.first)  # a video finished part way: its first frames are done
                for k, item in enumerate(expand_upload(upload, self.options, self.fetch_image, self.max_pixels, delete_read=False)):
                    if k >= skip:
                        yield item
                    if self._cancelled.is_set():
                        return
                position = row.first + row.count
            if rows:
                continue
            live = self._live.get(fresh=True)
            if live is None or (live[0].input_closed and position >= live[0].received):
                return  # deleted, or every promised item was read
            self._wake.wait(POLL_ITEMS_S)


class SharedRun:
    """A session run by another process, as a ``SessionRunner``-like view: every read is from the database."""

    def __init__(self, db: SessionDB, sid: str, model_name: str) -> None:
        self.db, self.sid = db, sid
        self._live = _LiveRow(db, sid)
        self.model = type("ModelName", (), {"name": model_name})()
        self.first = 0

    def status(self) -> SessionStatus:
        live = self._live.get()
        if live is None:
            return SessionStatus(SessionState.STOPPED, 0, 0, 0, 0.0, 0.0, None, "the session was deleted", None, {})
        row, done, failed = live
        state = SessionState(row.state)
        if state is SessionState.RUNNING and row.stop_requested:
            state = SessionState.STOPPING
        return SessionStatus(state, done, row.total, failed, 0.0, 0.0, None, row.error, row.traceback,
                             {"model": row.model, **(row.definition or {}).get("context", {})})

    def window(self, after: int = 0, limit: int | None = None) -> tuple[int, list]:
        return self.status().done, []  # every result is read from the database

    def results(self, after: int = 0, limit: int | None = None) -> list:
        return []

    def wait(self, after: int, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0)
        while True:
            st = self.status()
            if st.done > after or st.state.is_final:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(JOIN_POLL_S, max(0.0, deadline - time.monotonic())))

    def start(self) -> SharedRun:
        return self

    def stop(self) -> None:
        """Ask the owner to stop (it reads the request with its next lease renewal)."""
        self.db.request_stop(self.sid)
        self._live.get(fresh=True)  # this caller reads its own request at once

    def interrupt(self) -> None:
        pass  # not ours to interrupt: the owner goes on

    def join(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0)
        while not self.status().state.is_final:
            if time.monotonic() >= deadline:
                return False
            time.sleep(JOIN_POLL_S)
        return True


class LeaseKeeper:
    """This process's side of the leases: every ``lease_s / 3`` it renews them, tells ``on_change`` what
    happened to its sessions (gone, taken over, asked to stop, more input), and offers lapsed sessions to
    ``on_lapsed``; every ``STOP_POLL_S`` it looks for stops asked through other processes. Started by the session store, ended by ``close()`` (the app's shutdown), at most one period later."""

    def __init__(self, db: SessionDB, owned: Callable[[], list[str]], on_change: Callable[[str, tuple | None], None],
                 on_lapsed: Callable[[str], None], on_stop: Callable[[str], None]) -> None:
        self.db, self._owned, self._on_change, self.on_lapsed, self._on_stop = db, owned, on_change, on_lapsed, on_stop
        self.period = max(0.2, db.lease_s / 3)
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sightline-lease-keeper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        renewed = time.monotonic()
        while not self._ended.wait(STOP_POLL_S):
            try:
                if self._owned():  # a stop asked through another process acts within a batch, as on one server
                    for sid in self.db.stops_requested():
                        self._on_stop(sid)
                if time.monotonic() - renewed >= self.period:
                    renewed = time.monotonic()
                    self.tick()
            except Exception:  # the database may be away for a while: the next tick tries again
                log.exception("session leases: a renewal failed")

    def tick(self) -> None:
        owned = self._owned()
        seen = self.db.renew(owned)
        for sid in owned:
            self._on_change(sid, seen.get(sid))
        for sid in self.db.take_lapsed():
            log.info("session %s: its owner's lease lapsed; this process takes it over", sid)
            try:
                self.on_lapsed(sid)
            except Exception:
                log.exception("session %s: taking it over failed", sid)

    def close(self) -> None:
        self._ended.set()
        self._thread.join(self.period + 5)
