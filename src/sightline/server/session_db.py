"""Sessions in a database: each session's definition and state, and every finished result by cursor position.

Any process sharing the database can read a session (see docs/architecture.md, "Durable sessions").
Results are written by one writer thread per server, a transaction per batch of queued writes, so the
inference thread never waits on the database.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, cast, create_engine, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sightline.engine.status import SessionState, SessionStatus
from sightline.errors import ConflictError
from sightline.prediction import Prediction
from sightline.workspace import migrate
from sightline.workspace.schema import PredictionRun, StoredItem, StoredResult, StoredSession

log = logging.getLogger("sightline.server")

ACTIVE = (SessionState.PENDING.value, SessionState.RUNNING.value, SessionState.STOPPING.value)
MAX_WRITES_PER_TRANSACTION = 512  # queued writes committed together; the rest go in the next transaction
FLUSH_TIMEOUT_S = 30.0


def encode_result(pred: Prediction) -> bytes:
    """A result as stored: the JSON the server sends (``Prediction.to_dict``, RLE masks), zlib'd. The dict is
    kept on the prediction (``wire_dict``), so the routes that send it do not encode its masks again."""
    d = pred.to_dict()
    pred._wire = d  # type: ignore[attr-defined]
    return zlib.compress(json.dumps(d).encode(), 1)


def wire_dict(pred: Prediction) -> dict[str, Any]:
    """The JSON object the server sends for a result (made once, when it was written)."""
    d = getattr(pred, "_wire", None)
    return d if d is not None else pred.to_dict()


def decode_result(data: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(data))


def _sqlite_engine(path: Path) -> Engine:
    from sightline.workspace.store import _sqlite_pragmas  # the workspace's own settings (WAL, busy timeout)

    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path.resolve()}", future=True)
    _sqlite_pragmas(engine)
    return engine


@dataclass
class StoredState:
    """A session's row with its counts, as read at startup (or by another process)."""

    id: str
    model: str
    kind: str
    definition: dict[str, Any]
    state: SessionState
    total: int
    done: int
    failed: int
    error: str | None
    traceback: str | None
    created: float

    def status(self) -> SessionStatus:
        return SessionStatus(self.state, self.done, self.total, self.failed, 0.0, 0.0, None, self.error, self.traceback,
                             {"model": self.model, **self.definition.get("context", {})})


class SessionDB:
    """The ``server_sessions`` and ``server_session_results`` tables of one database, and their writer thread.

    The writer thread is started here and ended by ``close()`` (the app's shutdown), after it has written
    everything queued before; ``close`` waits for it at most ``FLUSH_TIMEOUT_S``.
    """

    def __init__(self, engine: Engine, owns_engine: bool = False, shared: bool = False, lease_s: float = 10.0) -> None:
        self.engine = engine
        self._owns_engine = owns_engine
        # shared: other processes run sessions on this database too; a session's writes are fenced by its lease
        self.shared, self.lease_s = shared, lease_s
        self.lost: Callable[[str], None] | None = None  # called (writer thread) when a write finds the session taken over
        self.stop_requested: Callable[[str], None] | None = None  # called (writer thread) when a write finds a stop asked for
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this server process
        migrate.upgrade(engine)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._queue: queue.Queue[Callable[[Session], None] | threading.Event | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="sightline-session-writer", daemon=True)
        self._writer.start()

    @classmethod
    def open_file(cls, path: Path, shared: bool = False, lease_s: float = 10.0) -> SessionDB:
        """A SQLite file of its own (a server without a workspace)."""
        return cls(_sqlite_engine(path), owns_engine=True, shared=shared, lease_s=lease_s)

    def _lease(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.lease_s)

    def _ours(self, s: Session, sid: str) -> bool:
        """The session still exists and (shared) this process still holds it: read under a row lock, so a
        takeover cannot commit between this check and the write it guards."""
        row = s.get(StoredSession, sid, with_for_update=self.shared)
        if row is None:
            return False
        if self.shared and row.owner != self.owner:
            if self.lost is not None:
                self.lost(sid)
            return False
        if self.shared and row.stop_requested and self.stop_requested is not None:
            self.stop_requested(sid)  # asked through another process: seen within a batch, not at the next renewal
        return True

    # --- writes, queued ---------------------------------------------------------------------------
    def insert(self, sid: str, model: str, kind: str, definition: dict[str, Any], total: int, closed: bool = False) -> None:
        """Written at once (not queued): a session exists in the database before its first result.
        ``closed``: the input is whole already (workspace IDs): ``total`` items, none to upload."""
        with self._sessions.begin() as s:
            s.add(StoredSession(id=sid, model=model, kind=kind, definition=definition, state=SessionState.RUNNING.value,
                                total=total, owner=self.owner, lease_until=self._lease() if self.shared else None,
                                received=total if closed else 0, input_closed=closed))

    def set_definition(self, sid: str, definition: dict[str, Any]) -> None:
        self._queue.put(lambda s: s.execute(update(StoredSession).where(StoredSession.id == sid).values(definition=definition)))

    def append(self, sid: str, position: int, preds: list[Prediction], then: Callable[[], None] | None = None) -> None:
        """Queue results at cursor ``position`` on; they are encoded and written on the writer thread, which
        calls ``then`` once they are committed (or failed to be: the run goes on, from memory)."""

        def write(s: Session) -> None:
            if not self._ours(s, sid):  # deleted meanwhile, or taken over by another process: the batch is dropped
                return
            s.add_all(StoredResult(session_id=sid, position=position + k, failed=p.error is not None, data=encode_result(p))
                      for k, p in enumerate(preds))

        write.then = then  # type: ignore[attr-defined]
        self._queue.put(write)

    def set_state(self, sid: str, status: SessionStatus) -> None:
        """Queue the session's state; a final state also releases this server's claim on it."""
        final = status.state.is_final
        values = {"state": status.state.value, "total": status.total, "error": status.error, "traceback": status.traceback,
                  "owner": None if final else self.owner, "updated_at": datetime.now(UTC)}

        def write(s: Session) -> None:
            if self._ours(s, sid):
                s.execute(update(StoredSession).where(StoredSession.id == sid).values(**values))

        self._queue.put(write)

    def delete(self, sid: str) -> None:
        def remove(s: Session) -> None:
            s.execute(delete(StoredItem).where(StoredItem.session_id == sid))  # SQLite without FK cascade too
            s.execute(delete(StoredResult).where(StoredResult.session_id == sid))
            s.execute(delete(StoredSession).where(StoredSession.id == sid))

        self._queue.put(remove)

    def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> bool:
        """Wait until everything queued so far is written; False after ``timeout``."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, end the writer thread, release the engine if it is this store's own."""
        self._queue.put(None)
        self._writer.join(FLUSH_TIMEOUT_S)
        if self._writer.is_alive():
            log.error("session store: writes still queued after %.0f s at shutdown; they are lost", FLUSH_TIMEOUT_S)
        if self._owns_engine:
            self.engine.dispose()

    def _write_loop(self) -> None:
        """Drain the queue: up to MAX_WRITES_PER_TRANSACTION writes in one transaction. Ends on ``None`` (``close``)."""
        ending = False
        while not ending:
            first = self._queue.get()
            batch = [first]
            while len(batch) < MAX_WRITES_PER_TRANSACTION:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            writes = [w for w in batch if callable(w) and not isinstance(w, threading.Event)]
            if writes:
                try:
                    self._write(writes)
                except Exception:  # one bad write must not lose the others: each in its own transaction
                    for w in writes:
                        try:
                            self._write([w])
                        except Exception:  # the results stay in memory; a restart would not find these rows
                            log.exception("session store: a queued write failed")
            for w in batch:
                then = getattr(w, "then", None)
                if then is not None:
                    then()
                if isinstance(w, threading.Event):
                    w.set()
                elif w is None:
                    ending = True

    def _write(self, writes: list[Callable[[Session], None]]) -> None:
        with self._sessions.begin() as s:
            for w in writes:
                w(s)

    # --- reads -------------------------------------------------------------------------------------
    def results(self, sid: str, after: int, limit: int | None) -> list[dict[str, Any]]:
        """Stored results from cursor ``after`` (at most ``limit``), as the JSON objects the server sends."""
        q = select(StoredResult.data).where(StoredResult.session_id == sid, StoredResult.position >= after)
        if limit is not None:
            q = q.where(StoredResult.position < after + limit)
        with self._sessions() as s:
            return [decode_result(d) for d in s.scalars(q.order_by(StoredResult.position))]

    def load(self) -> list[StoredState]:
        """Every stored session with its counts."""
        with self._sessions() as s:
            counts = {sid: (n, int(f or 0)) for sid, n, f in s.execute(
                select(StoredResult.session_id, func.count(), func.sum(cast(StoredResult.failed, Integer)))
                .group_by(StoredResult.session_id))}
            rows = s.scalars(select(StoredSession).order_by(StoredSession.created_at)).all()
        out = []
        for r in rows:
            done, failed = counts.get(r.id, (0, 0))
            out.append(StoredState(r.id, r.model, r.kind, r.definition or {}, SessionState(r.state), r.total, done, failed,
                                   r.error, r.traceback, r.created_at.timestamp() if r.created_at else 0.0))
        return out

    def interrupt_orphans(self) -> list[str]:
        """Mark sessions left running by a server that died (or shut down mid-write) as interrupted, and
        their workspace run records too. Today every server claims them all at startup (one server per
        database); with several replicas this becomes "whose lease has lapsed"."""
        with self._sessions.begin() as s:
            rows = s.scalars(select(StoredSession).where(StoredSession.state.in_(ACTIVE))).all()
            for r in rows:
                r.state, r.owner = SessionState.INTERRUPTED.value, None
                run_id = (r.definition or {}).get("run", {}).get("run_id")
                if run_id is not None:
                    s.execute(update(PredictionRun).where(PredictionRun.id == run_id, PredictionRun.state == "running")
                              .values(state=SessionState.INTERRUPTED.value, finished_at=datetime.now(UTC)))
            return [r.id for r in rows]

    def claim(self, sid: str) -> None:
        """This server runs the session again (a resume)."""
        self._queue.put(lambda s: s.execute(update(StoredSession).where(StoredSession.id == sid)
                                            .values(state=SessionState.RUNNING.value, owner=self.owner, error=None, traceback=None,
                                                    lease_until=self._lease() if self.shared else None)))


    # --- shared sessions: several processes on one database (docs/scale-out.md) ---------------------
    def add_item(self, sid: str, kind: str, meta: dict[str, Any], count: int, path: str | None = None, url: str | None = None,
                 error: str | None = None) -> None:
        """Queue an upload of ``count`` items, at once and durably (any process may run the session next).
        ``ConflictError`` when the input is closed or the items would pass ``total``; ``received`` is counted
        in the same statement, so concurrent uploads through different processes cannot both pass."""
        with self._sessions.begin() as s:
            row = s.execute(update(StoredSession).where(StoredSession.id == sid, StoredSession.input_closed.is_(False),
                                                        StoredSession.received + count <= StoredSession.total)
                            .values(received=StoredSession.received + count).returning(StoredSession.received)).first()
            if row is None:
                st = s.get(StoredSession, sid)
                if st is None:
                    raise ConflictError(f"session {sid} was deleted", 409)
                if st.input_closed:
                    raise ConflictError("this session's input is closed: no more items can be added", 409)
                raise ConflictError(f"the session was created for {st.total} items; these uploads would make {st.received + count}", 409)
            if count > 0:  # nothing to read for an upload of no items (a video with no frame in its window)
                s.add(StoredItem(session_id=sid, first=row[0] - count, count=count, kind=kind, meta=meta, path=path, url=url, error=error))

    def close_input(self, sid: str) -> None:
        with self._sessions.begin() as s:
            s.execute(update(StoredSession).where(StoredSession.id == sid).values(input_closed=True))

    def items(self, sid: str, position: int, limit: int = 64) -> list[StoredItem]:
        """Queued uploads that hold cursor ``position`` or later ones, in order."""
        with self._sessions() as s:
            return list(s.scalars(select(StoredItem).where(StoredItem.session_id == sid, StoredItem.first + StoredItem.count > position)
                                  .order_by(StoredItem.first).limit(limit)))

    def pending_items(self, sid: str, done: int) -> int:
        """Uploads not yet finished (the backlog a client may not grow past)."""
        with self._sessions() as s:
            return s.scalar(select(func.count()).select_from(StoredItem).where(StoredItem.session_id == sid,
                                                                               StoredItem.first + StoredItem.count > done)) or 0

    def live(self, sid: str) -> tuple[StoredSession, int, int] | None:
        """The session's row with its ``done`` and ``failed`` counts, or None when it does not exist."""
        with self._sessions() as s:
            row = s.get(StoredSession, sid)
            if row is None:
                return None
            done, failed = s.execute(select(func.count(), func.sum(cast(StoredResult.failed, Integer)))
                                     .where(StoredResult.session_id == sid)).one()
            return row, int(done or 0), int(failed or 0)

    def request_stop(self, sid: str) -> None:
        with self._sessions.begin() as s:
            s.execute(update(StoredSession).where(StoredSession.id == sid).values(stop_requested=True))

    def delete_now(self, sid: str) -> None:
        """Delete a session's rows at once (a process that does not run it; its owner notices and stops)."""
        with self._sessions.begin() as s:
            s.execute(delete(StoredItem).where(StoredItem.session_id == sid))
            s.execute(delete(StoredResult).where(StoredResult.session_id == sid))
            s.execute(delete(StoredSession).where(StoredSession.id == sid))

    def renew(self, sids: list[str]) -> dict[str, tuple[str | None, bool, int]]:
        """Extend this process's lease on its running sessions; returns, per session still in the database,
        ``(owner, stop_requested, received)`` so the caller stops what was taken over, deleted or asked to stop."""
        with self._sessions.begin() as s:
            s.execute(update(StoredSession).where(StoredSession.owner == self.owner, StoredSession.state.in_(ACTIVE))
                      .values(lease_until=self._lease()))
            if not sids:
                return {}
            rows = s.execute(select(StoredSession.id, StoredSession.owner, StoredSession.stop_requested, StoredSession.received)
                             .where(StoredSession.id.in_(sids))).all()
            return {r[0]: (r[1], bool(r[2]), int(r[3])) for r in rows}

    def stops_requested(self) -> list[str]:
        """Sessions this process runs that another process asked to stop."""
        with self._sessions() as s:
            return list(s.scalars(select(StoredSession.id).where(StoredSession.owner == self.owner, StoredSession.stop_requested.is_(True),
                                                                  StoredSession.state.in_(ACTIVE))))

    def take_lapsed(self) -> list[str]:
        """Claim running sessions whose owner's lease has lapsed (it died, or lost the database): one
        compare-and-set on the owner each, so of several processes trying, one wins. Returns the ids won."""
        now = datetime.now(UTC)
        with self._sessions() as s:
            rows = s.execute(select(StoredSession.id, StoredSession.owner, StoredSession.lease_until)
                             .where(StoredSession.state.in_(ACTIVE))).all()
        won = []
        for sid, owner, lease in rows:
            if owner == self.owner:
                continue
            if lease is not None and (lease if lease.tzinfo else lease.replace(tzinfo=UTC)) > now:
                continue
            with self._sessions.begin() as s:
                cond = StoredSession.owner.is_(None) if owner is None else StoredSession.owner == owner
                claimed = s.execute(update(StoredSession).where(StoredSession.id == sid, cond, StoredSession.state.in_(ACTIVE))
                                    .values(owner=self.owner, lease_until=self._lease()))
                if claimed.rowcount == 1:
                    won.append(sid)
        return won

    def release(self, sid: str) -> None:
        """This process gives the session up (it is shutting down): another takes it over at once."""
        def write(s: Session) -> None:
            s.execute(update(StoredSession).where(StoredSession.id == sid, StoredSession.owner == self.owner)
                      .values(owner=None, lease_until=None))

        self._queue.put(write)


def open_session_storage(persist: bool, state_dir: str | None, workspace_engine: Engine | None, shared: bool = False,
                         lease_s: float = 10.0) -> tuple[SessionDB | None, Path, bool]:
    """Where sessions persist: ``(database or None, folder for session files, whether the folder is temporary)``.

    - ``persist`` off: memory only (a temp folder for uploads, as before);
    - a workspace: its database (SQLite file or PostgreSQL), files under ``state_dir/sessions`` if given;
    - else ``state_dir``: ``state_dir/sessions.db`` and ``state_dir/sessions``;
    - else a temp folder of this server's: sessions are written, but a restart does not find them.
    """
    if state_dir:
        folder, temporary = Path(state_dir) / "sessions", False
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder, temporary = Path(tempfile.mkdtemp(prefix="sightline-sessions-")), True
    if not persist:
        return None, folder, temporary
    if workspace_engine is not None:
        return SessionDB(workspace_engine, shared=shared, lease_s=lease_s), folder, temporary
    return SessionDB.open_file((Path(state_dir) if state_dir else folder) / "sessions.db", shared, lease_s), folder, temporary
