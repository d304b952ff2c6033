"""A Ray Data job's session in the session tables (``server_sessions``, ``server_session_results``).

Every process of the job (the driver, and each recording actor on any node) opens the same database.
The job is one row; ``owner`` names the driver and ``lease_until`` says until when its claim holds (the
driver renews it every few seconds, and each recorded result does too). A result is recorded in the same
transaction as its upload, after a conditional ``UPDATE`` of the session's row that both checks the job
still owns a running session and locks the row until commit: so positions are handed out one after
another (readers by cursor never see a hole), a stopped or taken-over job writes nothing more, and an
image is either uploaded *and* counted done, or neither (a resumed job never repeats one).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from typing import cast as typed

from sqlalchemy import CursorResult, Integer, cast, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from sightline.engine.status import SessionState
from sightline.errors import ConflictError, NotFoundError
from sightline.workspace.schema import StoredResult, StoredSession

KIND = "ray"  # server_sessions.kind of a Ray Data job
RESUMABLE = (SessionState.INTERRUPTED.value, SessionState.STOPPED.value)
ACTIVE = (SessionState.RUNNING.value, SessionState.STOPPING.value, SessionState.PENDING.value)


def lease_s() -> float:
    """How long a job's claim holds without being renewed (``SIGHTLINE_RAY_LEASE_S``, default 30 s)."""
    return float(os.environ.get("SIGHTLINE_RAY_LEASE_S", "30"))


def _now() -> datetime:
    return datetime.now(UTC)


class Refused(Exception):
    """The job no longer runs this session (stopped, or taken over): nothing is written."""


@dataclass
class JobRow:
    id: str
    state: str
    total: int
    definition: dict[str, Any]
    model: str


class Ledger:
    """The session row of one job, as its owner ``owner`` writes it."""

    def __init__(self, engine: Engine, sid: str, owner: str, lease: float | None = None) -> None:
        self.engine, self.sid, self.owner = engine, sid, owner
        self.lease = lease if lease is not None else lease_s()

    # --- the driver --------------------------------------------------------------------------------
    def create(self, model: str, definition: dict[str, Any], total: int) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(StoredSession(id=self.sid, model=model, kind=KIND, definition=definition, state=SessionState.RUNNING.value,
                                total=total, owner=self.owner, lease_until=_now() + timedelta(seconds=self.lease)))

    def claim(self) -> JobRow:
        """Take the session over to resume it: it must be interrupted or stopped, or running under a lease
        that lapsed (its driver died). ``ConflictError`` when another job holds it."""
        now = _now()
        with Session(self.engine) as s, s.begin():
            row = s.get(StoredSession, self.sid, with_for_update=True)  # two resumes of one job: the second waits, then sees it taken
            if row is None or row.kind != KIND:
                raise NotFoundError(f"no Ray Data job {self.sid!r} in this workspace's sessions", 404)
            lapsed = row.lease_until is None or _aware(row.lease_until) < now
            if not (row.state in RESUMABLE or (row.state in ACTIVE and lapsed)):
                raise ConflictError(
                    f"job {self.sid} is {row.state}" + (f" and its driver holds it until {row.lease_until:%H:%M:%S} UTC" if row.state in ACTIVE else "")
                    + ": only a stopped or interrupted job, or one whose driver died (its lease lapsed), can be resumed", 409)
            row.state, row.owner, row.error, row.traceback = SessionState.RUNNING.value, self.owner, None, None
            row.lease_until = now + timedelta(seconds=self.lease)
            return JobRow(row.id, row.state, row.total, row.definition or {}, row.model)

    def renew(self) -> str | None:
        """Extend the lease; the session's state as stored (``None`` when the row is gone or no longer ours)."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(StoredSession).where(StoredSession.id == self.sid, StoredSession.owner == self.owner)
                      .values(lease_until=_now() + timedelta(seconds=self.lease)))
            row = s.execute(select(StoredSession.state, StoredSession.owner).where(StoredSession.id == self.sid)).first()
        return None if row is None or row.owner != self.owner else row.state

    def set_definition(self, definition: dict[str, Any]) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(update(StoredSession).where(StoredSession.id == self.sid).values(definition=definition))

    def finish(self, state: SessionState, error: str | None = None, tb: str | None = None) -> None:
        """The final state; the claim is released."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(StoredSession).where(StoredSession.id == self.sid, StoredSession.owner == self.owner)
                      .values(state=state.value, error=error, traceback=tb, owner=None, lease_until=None, updated_at=_now()))

    def done(self) -> tuple[int, int, set[int]]:
        """``(done, failed, image ids done)`` from the recorded results."""
        ids: set[int] = set()
        failed = 0
        with Session(self.engine) as s:
            for flag, data in s.execute(select(StoredResult.failed, StoredResult.data).where(StoredResult.session_id == self.sid)):
                failed += bool(flag)
                image_id = json.loads(zlib.decompress(data)).get("image_id")
                if image_id is not None:
                    ids.add(image_id)
            done = s.scalar(select(func.count()).select_from(StoredResult).where(StoredResult.session_id == self.sid)) or 0
        return done, failed, ids

    def counts(self) -> tuple[int, int]:
        """``(done, failed)``: results recorded so far."""
        with Session(self.engine) as s:
            row = s.execute(select(func.count(), func.sum(cast(StoredResult.failed, Integer)))
                            .where(StoredResult.session_id == self.sid)).one()
        return int(row[0] or 0), int(row[1] or 0)

    # --- a recording actor ---------------------------------------------------------------------------
    def next_position(self, s: Session) -> int:
        """The cursor position of the result the caller's transaction (the upload's) is about to add. Locks the
        session's row until commit, so positions follow commit order; ``Refused`` when the job no longer runs
        the session (stopped, or taken over)."""
        held = typed(CursorResult[Any], s.execute(update(StoredSession).where(
            StoredSession.id == self.sid, StoredSession.owner == self.owner, StoredSession.state == SessionState.RUNNING.value,
        ).values(lease_until=_now() + timedelta(seconds=self.lease)))).rowcount
        if not held:
            raise Refused(self.sid)
        return int(s.scalar(select(func.coalesce(func.max(StoredResult.position) + 1, 0)).where(StoredResult.session_id == self.sid)) or 0)

    def add(self, s: Session, position: int, data: bytes, failed: bool) -> None:
        s.add(StoredResult(session_id=self.sid, position=position, failed=failed, data=data))

    def record(self, s: Session, data: bytes, failed: bool) -> int:
        """``next_position`` and ``add`` in one: the result's cursor position."""
        position = self.next_position(s)
        self.add(s, position, data, failed)
        return position


def request_stop(engine: Engine, sid: str) -> bool:
    """Ask a running job to stop, from any process: its recorders refuse from now on, its driver ends it."""
    with Session(engine) as s, s.begin():
        result = s.execute(update(StoredSession).where(StoredSession.id == sid, StoredSession.state == SessionState.RUNNING.value)
                           .values(state=SessionState.STOPPING.value))
        return bool(typed(CursorResult[Any], result).rowcount)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite returns naive datetimes
