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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, cast, create_engine, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sightline.engine.status import SessionState, SessionStatus
from sightline.prediction import Prediction
from sightline.workspace import migrate
from sightline.workspace.schema import PredictionRun, StoredResult, StoredSession

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

    def __init__(self, engine: Engine, owns_engine: bool = False) -> None:
        self.engine = engine
        self._owns_engine = owns_engine
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this server process
        migrate.upgrade(engine)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._queue: queue.Queue[Callable[[Session], None] | threading.Event | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="sightline-session-writer", daemon=True)
        self._writer.start()

    @classmethod
    def open_file(cls, path: Path) -> SessionDB:
        """A SQLite file of its own (a server without a workspace)."""
        return cls(_sqlite_engine(path), owns_engine=True)

    # --- writes, queued ---------------------------------------------------------------------------
    def insert(self, sid: str, model: str, kind: str, definition: dict[str, Any], total: int) -> None:
        """Written at once (not queued): a session exists in the database before its first result."""
        with self._sessions.begin() as s:
            s.add(StoredSession(id=sid, model=model, kind=kind, definition=definition, state=SessionState.RUNNING.value,
                                total=total, owner=self.owner))

    def set_definition(self, sid: str, definition: dict[str, Any]) -> None:
        self._queue.put(lambda s: s.execute(update(StoredSession).where(StoredSession.id == sid).values(definition=definition)))

    def append(self, sid: str, position: int, preds: list[Prediction], then: Callable[[], None] | None = None) -> None:
        """Queue results at cursor ``position`` on; they are encoded and written on the writer thread, which
        calls ``then`` once they are committed (or failed to be: the run goes on, from memory)."""

        def write(s: Session) -> None:
            if s.get(StoredSession, sid) is None:  # deleted meanwhile: its last batch is dropped
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
        self._queue.put(lambda s: s.execute(update(StoredSession).where(StoredSession.id == sid).values(**values)))

    def delete(self, sid: str) -> None:
        def remove(s: Session) -> None:
            s.execute(delete(StoredResult).where(StoredResult.session_id == sid))  # SQLite without FK cascade too
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

    def load_one(self, sid: str) -> StoredState | None:
        """One stored session with its counts (a session another process runs, read again)."""
        with self._sessions() as s:
            r = s.get(StoredSession, sid)
            if r is None:
                return None
            done, failed = s.execute(select(func.count(), func.sum(cast(StoredResult.failed, Integer)))
                                     .where(StoredResult.session_id == sid)).one()
        return StoredState(r.id, r.model, r.kind, r.definition or {}, SessionState(r.state), r.total, int(done or 0), int(failed or 0),
                           r.error, r.traceback, r.created_at.timestamp() if r.created_at else 0.0)

    def interrupt_orphans(self) -> list[str]:
        """Mark sessions left running by a server that died (or shut down mid-write) as interrupted, and
        their workspace run records too. Today every server claims them all at startup (one server per
        database); with several replicas this becomes "whose lease has lapsed". A session under a lease
        that still holds (a Ray Data job whose driver runs) is left alone."""
        with self._sessions.begin() as s:
            now = datetime.now(UTC)
            rows = [r for r in s.scalars(select(StoredSession).where(StoredSession.state.in_(ACTIVE))).all()
                    if r.lease_until is None or _aware(r.lease_until) < now]
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
                                            .values(state=SessionState.RUNNING.value, owner=self.owner, error=None, traceback=None)))


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite gives naive datetimes back


def open_session_storage(persist: bool, state_dir: str | None, workspace_engine: Engine | None) -> tuple[SessionDB | None, Path, bool]:
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
        return SessionDB(workspace_engine), folder, temporary
    return SessionDB.open_file((Path(state_dir) if state_dir else folder) / "sessions.db"), folder, temporary
