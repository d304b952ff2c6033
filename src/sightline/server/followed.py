"""``FollowedRun``: a session that another process runs on the same database (a Ray Data job's driver),
read from there: its status, its results by cursor, and a stop asked through the database."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

from sightline.engine.status import SessionState, SessionStatus

if TYPE_CHECKING:
    from sightline.server.session_db import SessionDB, StoredState

FRESH_S = 0.25  # a status read from the database is reused this long (event streams ask several times a loop)
POLL_S = 0.1


class FollowedRun:
    """The runner view of a session this server does not run: every read goes to the database."""

    def __init__(self, db: SessionDB, stored: StoredState) -> None:
        self.db, self.sid = db, stored.id
        self.model = SimpleNamespace(name=stored.model)
        self._stored, self._read_at = stored, time.monotonic()
        self._lock = threading.Lock()

    def _fresh(self) -> StoredState:
        with self._lock:
            if time.monotonic() - self._read_at > FRESH_S and not self._stored.state.is_final:
                again = self.db.load_one(self.sid)
                if again is not None:
                    self._stored = again
                self._read_at = time.monotonic()
            return self._stored

    @property
    def first(self) -> int:
        return self._fresh().done  # every result is in the database

    def status(self) -> SessionStatus:
        return self._fresh().status()

    def results(self, after: int = 0, limit: int | None = None) -> list:
        return []

    def window(self, after: int = 0, limit: int | None = None) -> tuple[int, list]:
        return self.first, []

    def wait(self, after: int, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0)
        while True:
            st = self._fresh()
            if st.done > after or st.state.is_final:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def start(self) -> FollowedRun:
        return self

    def stop(self) -> None:
        """Ask the job's driver to stop (its recorders refuse from now on); it writes the final state."""
        from sightline.raydata.ledger import request_stop  # no Ray import: the ledger is plain SQL

        request_stop(self.db.engine, self.sid)

    def interrupt(self) -> None:
        """This server shutting down does not end a job it does not run."""

    def join(self, timeout: float | None = None) -> bool:
        return self.wait(10**18, timeout if timeout is not None else 60.0) and self.status().state.is_final


def is_followed(state: SessionState, kind: str) -> bool:
    """Sessions read live rather than once: Ray Data jobs (their driver is another process)."""
    return kind == "ray"
