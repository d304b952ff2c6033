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
import typing
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Integer, cast, create_engine, delete, event, func, insert, select, update
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
    """A result as stored: the JSON the server sends (``Prediction.to_dict``, RLE masks), zlib'd. The dict and
    its JSON text are kept on the prediction (``wire_dict``, ``wire_text``), so the routes that send it do not
    encode it again."""
    d = pred.to_dict()
    text = json.dumps(d)
    pred._wire, pred._wire_text = d, text  # type: ignore[attr-defined]
    return zlib.compress(text.encode(), 1)


def wire_dict(pred: Prediction) -> dict[str, Any]:
    """The JSON object the server sends for a result (made once, when it was written)."""
    d = getattr(pred, "_wire", None)
    return d if d is not None else pred.to_dict()


def wire_text(pred: Prediction) -> str:
    """The JSON text the server sends for a result (``json.dumps`` of ``wire_dict``)."""
    text = getattr(pred, "_wire_text", None)
    return text if text is not None else json.dumps(wire_dict(pred))


def decode_result(data: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(data))


def _sqlite_engine(path: Path | str) -> Engine:
    """An engine of the session store's own on a SQLite file: the workspace's settings (WAL, busy timeout) and
    ``synchronous=NORMAL``. In WAL mode that keeps every commit across a crash of the process (kill -9): only
    a crash of the machine may lose the last commits, never corrupt the file. It spares an fsync per commit
    (about 20 ms a batch on a busy disk, measured by ``benchmarks/durable_sessions.py``)."""
    from sightline.workspace.store import _sqlite_pragmas

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path.resolve()}", future=True)
    _sqlite_pragmas(engine)

    @event.listens_for(engine, "connect")
    def _normal_sync(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class _Rows:
    """A batch of results queued for the writer; encoded on the writer thread (``encode``)."""

    def __init__(self, sid: str, position: int, preds: list[Prediction], then: Callable[[], None] | None) -> None:
        self.sid, self.position, self.preds, self.then = sid, position, preds, then
        self.rows: list[dict[str, Any]] | None = None

    def encode(self) -> None:
        if self.rows is None:
            self.rows = [{"session_id": self.sid, "position": self.position + k, "failed": p.error is not None, "data": encode_result(p)}
                         for k, p in enumerate(self.preds)]


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
    owned_by: str | None = None  # whose session it is (server/callers.py), not the process running it

    def status(self) -> SessionStatus:
        return SessionStatus(self.state, self.done, self.total, self.failed, 0.0, 0.0, None, self.error, self.traceback,
                             {"model": self.model, **self.definition.get("context", {})})


def _stored_state(r: StoredSession, done: int, failed: int) -> StoredState:
    return StoredState(r.id, r.model, r.kind, r.definition or {}, SessionState(r.state), r.total, done, failed,
                       r.error, r.traceback, r.created_at.timestamp(), r.owned_by)


@dataclass(frozen=True)
class _Write:
    """One queued write: ``apply`` runs in the writer's transaction (what it returns is ignored); ``then`` runs
    on the writer thread once that transaction committed or failed."""

    apply: Callable[[Session], object]
    then: Callable[[], None] | None = None


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
        self._queue: queue.Queue[_Write | _Rows | threading.Event | None] = queue.Queue()
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
    def insert(self, sid: str, model: str, kind: str, definition: dict[str, Any], total: int, owned_by: str | None = None,
               closed: bool = False) -> None:
        """Written at once (not queued): a session exists in the database before its first result.
        ``closed``: the input is whole already (workspace IDs): ``total`` items, none to upload."""
        with self._sessions.begin() as s:
            s.add(StoredSession(id=sid, model=model, kind=kind, definition=definition, state=SessionState.RUNNING.value,
                                total=total, owner=self.owner, owned_by=owned_by, lease_until=self._lease() if self.shared else None,
                                received=total if closed else 0, input_closed=closed))

    def set_definition(self, sid: str, definition: dict[str, Any]) -> None:
        self._queue.put(_Write(lambda s: s.execute(update(StoredSession).where(StoredSession.id == sid).values(definition=definition))))

    def append(self, sid: str, position: int, preds: list[Prediction], then: Callable[[], None] | None = None) -> None:
        """Queue results at cursor ``position`` on; they are encoded and written on the writer thread, which
        calls ``then`` once they are committed (or failed to be: the run goes on, from memory)."""
        self._queue.put(_Rows(sid, position, preds, then))

    def set_state(self, sid: str, status: SessionStatus) -> None:
        """Queue the session's state; a final state also releases this server's claim on it."""
        final = status.state.is_final
        values = {"state": status.state.value, "total": status.total, "error": status.error, "traceback": status.traceback,
                  "owner": None if final else self.owner, "updated_at": datetime.now(UTC)}

        def write(s: Session) -> None:
            if self._ours(s, sid):
                s.execute(update(StoredSession).where(StoredSession.id == sid).values(**values))

        self._queue.put(_Write(write))

    def delete(self, sid: str) -> None:
        def remove(s: Session) -> None:
            s.execute(delete(StoredItem).where(StoredItem.session_id == sid))  # SQLite without FK cascade too
            s.execute(delete(StoredResult).where(StoredResult.session_id == sid))
            s.execute(delete(StoredSession).where(StoredSession.id == sid))

        self._queue.put(_Write(remove))

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
            writes = [w for w in batch if isinstance(w, (_Write, _Rows))]
            if writes:
                try:
                    self._write(writes)
                except Exception:  # one bad write must not lose the others: each in its own transaction
                    for w in writes:
                        try:
                            self._write([w])
                        except Exception:  # the results stay in memory; a restart would not find these rows
                            log.exception("session store: a queued write failed")
            for item in batch:
                if isinstance(item, (_Write, _Rows)) and item.then is not None:
                    item.then()
                if isinstance(item, threading.Event):
                    item.set()
                elif item is None:
                    ending = True

    def _insert(self, s: Session, batches: list[_Rows]) -> None:
        """The results of ``batches`` as one INSERT of many rows (``executemany``), those of sessions deleted
        meanwhile or (shared) taken over by another process left out: their batch is dropped."""
        if not batches:
            return
        sids = {b.sid for b in batches}
        if self.shared:
            alive = {sid for sid in sids if self._ours(s, sid)}
        else:
            alive = set(s.scalars(select(StoredSession.id).where(StoredSession.id.in_(sids))))
        rows = [row for b in batches if b.sid in alive for row in (b.rows or [])]
        if rows:
            s.execute(insert(StoredResult), rows)

    def _write(self, writes: list[_Write | _Rows]) -> None:
        """One transaction, in queue order; consecutive batches of results go in one multi-row INSERT."""
        for w in writes:
            if isinstance(w, _Rows):
                w.encode()  # before the transaction, so the database is held only for the writes
        with self._sessions.begin() as s:
            pending: list[_Rows] = []
            for w in writes:
                if isinstance(w, _Rows):
                    pending.append(w)
                    continue
                self._insert(s, pending)
                pending = []
                w.apply(s)
            self._insert(s, pending)

    # --- reads -------------------------------------------------------------------------------------
    def results(self, sid: str, after: int, limit: int | None) -> list[dict[str, Any]]:
        """Stored results from cursor ``after`` (at most ``limit``), as the JSON objects the server sends."""
        q = select(StoredResult.data).where(StoredResult.session_id == sid, StoredResult.position >= after)
        if limit is not None:
            q = q.where(StoredResult.position < after + limit)
        with self._sessions() as s:
            return [decode_result(d) for d in s.scalars(q.order_by(StoredResult.position))]

    def result_texts(self, sid: str, after: int, limit: int) -> list[str]:
        """Like ``results`` but the JSON texts as stored (no parsing: what an event stream sends)."""
        q = (select(StoredResult.data).where(StoredResult.session_id == sid, StoredResult.position >= after,
                                             StoredResult.position < after + limit).order_by(StoredResult.position))
        with self._sessions() as s:
            return [zlib.decompress(d).decode() for d in s.scalars(q)]

    def results_at(self, sid: str, after: int, limit: int) -> dict[int, dict[str, Any]]:
        """Stored results by cursor position, from ``after`` (at most ``limit``): a missing row is a missing key."""
        q = select(StoredResult.position, StoredResult.data).where(
            StoredResult.session_id == sid, StoredResult.position >= after, StoredResult.position < after + limit)
        with self._sessions() as s:
            return {pos: decode_result(d) for pos, d in s.execute(q)}

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
            out.append(_stored_state(r, done, failed))
        return out

    def load_one(self, sid: str) -> StoredState | None:
        """One stored session with its counts (a session another process runs, read again)."""
        live = self.live(sid)
        return None if live is None else _stored_state(*live)

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
        self._queue.put(_Write(lambda s: s.execute(update(StoredSession).where(StoredSession.id == sid)
                                                   .values(state=SessionState.RUNNING.value, owner=self.owner, error=None, traceback=None,
                                                           lease_until=self._lease() if self.shared else None))))


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

    def exists(self, sid: str) -> bool:
        """Whether the session's row is there (one primary-key read)."""
        with self._sessions() as s:
            return s.scalar(select(StoredSession.id).where(StoredSession.id == sid)) is not None

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
                if typing.cast(CursorResult[Any], claimed).rowcount == 1:
                    won.append(sid)
        return won

    def release(self, sid: str) -> None:
        """This process gives the session up (it is shutting down): another takes it over at once."""
        def write(s: Session) -> None:
            s.execute(update(StoredSession).where(StoredSession.id == sid, StoredSession.owner == self.owner)
                      .values(owner=None, lease_until=None))

        self._queue.put(_Write(write))


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite gives naive datetimes back


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
    if workspace_engine is not None and workspace_engine.dialect.name == "sqlite" and workspace_engine.url.database not in (None, "", ":memory:"):
        # the workspace's file, through an engine of the store's own (its commits skip the fsync, see _sqlite_engine)
        return SessionDB(_sqlite_engine(workspace_engine.url.database), owns_engine=True), folder, temporary
    if workspace_engine is not None:
        return SessionDB(workspace_engine, shared=shared, lease_s=lease_s), folder, temporary
    return SessionDB.open_file((Path(state_dir) if state_dir else folder) / "sessions.db", shared, lease_s), folder, temporary
