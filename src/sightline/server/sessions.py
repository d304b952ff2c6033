"""Detached sessions on the server: created, fed with uploads, read by cursor, stopped, expired."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sightline.callbacks import send_callback
from sightline.engine.runner import SessionRunner
from sightline.engine.session import chain_finish, chain_steps
from sightline.engine.status import SessionState, SessionStatus
from sightline.engine.video_steps import VideoSteps
from sightline.engine.worker import WorkerModel
from sightline.errors import ConflictError, NotFoundError, RateLimitedError
from sightline.inputs.items import InputPlan
from sightline.server.config import ServerConfig
from sightline.server.errors import without_internals
from sightline.server.followed import FollowedRun, is_followed
from sightline.server.manager import ModelManager
from sightline.server.security import check_url
from sightline.server.session_db import SessionDB, StoredState, wire_dict
from sightline.server.uploads import UploadPlan
from sightline.server.url_pool import UrlFetchPool
from sightline.settings import InputOptions, PredictSettings
from sightline.workspace.run_upload import RunUploader

log = logging.getLogger("sightline.server")

POLL_FIRST_S = 0.01  # how soon an async reader looks again after progress...
POLL_MAX_S = 0.1  # ...backing off to this while the session is quiet
SHUTDOWN_JOIN_S = 30.0  # how long shutdown waits for a session's batch in flight


@dataclass
class Callback:
    url: str
    username: str | None = None
    password: str | None = None


class StoredRun:
    """A session found in the database at startup: its status and results are read from there, nothing runs."""

    def __init__(self, stored: StoredState) -> None:
        self.stored = stored
        self.first = stored.done  # every result is in the database

    def status(self) -> SessionStatus:
        return self.stored.status()

    def results(self, after: int = 0, limit: int | None = None) -> list:
        return []

    def window(self, after: int = 0, limit: int | None = None) -> tuple[int, list]:
        return self.first, []

    def wait(self, after: int, timeout: float | None = None) -> bool:
        return True

    def start(self) -> StoredRun:
        return self

    def stop(self) -> None:
        pass

    interrupt = stop

    def join(self, timeout: float | None = None) -> bool:
        return True


@dataclass
class ServerSession:
    id: str
    runner: SessionRunner | StoredRun | FollowedRun
    uploads: UploadPlan
    folder: Path
    video: VideoSteps
    expose_tracebacks: bool = False  # only for the server's owner: a traceback names the server's files
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)
    db: SessionDB | None = None
    kind: str = "client"  # "workspace": the server owns the input (resumable alone); "client": uploads and URLs
    definition: dict[str, Any] = field(default_factory=dict)  # the create request, as stored (no callback)

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def status(self) -> SessionStatus:
        return self.runner.status()

    async def wait_async(self, after: int, timeout: float) -> bool:
        """Like ``runner.wait`` but on the event loop: True once a result past ``after`` exists or the run is
        final, False after ``timeout`` seconds.

        It polls with ``asyncio.sleep`` (a few checks of a lock per second) rather than blocking a worker
        thread: event streams and long polls would otherwise each hold one of the server's ~40 worker
        threads and stall every sync route. Being a plain coroutine, it ends early when its task is
        cancelled: a client that disconnects, or the server shutting down (uvicorn cancels open
        responses after ``timeout_graceful_shutdown``).
        """
        deadline = time.monotonic() + timeout
        pause = POLL_FIRST_S
        while not self.runner.wait(after, 0):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, POLL_MAX_S)
        return True

    def result_dicts(self, after: int, limit: int | None) -> list[dict[str, Any]]:
        """Results from cursor ``after`` as the JSON objects the server sends: those before the runner's
        ``first`` (an earlier run of a resumed session, or one read back after a restart) from the database."""
        first, page = self.runner.window(after, limit)  # both at once: ``first`` moves as results leave memory
        if after >= first or self.db is None:
            return [wire_dict(p) for p in page]
        want = first - after if limit is None else min(limit, first - after)
        out = self.db.results(self.id, after, want)
        if len(out) < want:  # rows missing: never skip past a hole
            return out
        return out + [wire_dict(p) for p in page]

    def describe(self) -> dict[str, Any]:
        """The status as a client reads it: the reason of a failure in words; its traceback for the owner only."""
        d = self.status().to_dict()
        if not self.expose_tracebacks:
            d["traceback"] = None
            d["error"] = d["error"] and without_internals(d["error"])
        d.update(id=self.id, created=self.created, input_closed=self.uploads.closed, received=self.uploads.received,
                 kind=self.kind,
                 resumable=d["state"] == SessionState.INTERRUPTED.value and self.db is not None and self.kind != "ray")
        return d


class SessionStore:
    def __init__(
        self, config: ServerConfig, manager: ModelManager, root: Path | None = None, *, url_pool: UrlFetchPool,
        db: SessionDB | None = None, temporary_root: bool | None = None,
    ) -> None:
        self.config = config
        self.manager = manager
        self.url_pool = url_pool  # fetches the sessions' URL items (owned and closed by the app)
        self.root = Path(root or tempfile.mkdtemp(prefix="sightline-sessions-"))
        self._own_root = root is None if temporary_root is None else temporary_root  # removed at close
        self.db = db  # None: sessions live in memory only
        self._sessions: dict[str, ServerSession] = {}
        self._lock = threading.Lock()
        self._starting = 0  # sessions counted against max_sessions while being built, before they are listed
        if db is not None:
            self._restore(db)

    def _restore(self, db: SessionDB) -> None:
        """List the sessions the database holds; those a dead server left running read as interrupted."""
        orphans = db.interrupt_orphans()
        if orphans:
            log.info("%d sessions left running by an earlier server are now interrupted", len(orphans))
        for st in db.load():
            self._sessions[st.id] = self._stored(db, st)

    def _stored(self, db: SessionDB, st: StoredState) -> ServerSession:
        """A session from the database: read once (nothing runs), or followed live when another process runs it."""
        uploads = UploadPlan(st.total, InputOptions(), self.url_pool.image_blocking, self.config.max_image_pixels)
        uploads.received = st.done
        uploads.close()
        folder = self.root / st.id
        video = VideoSteps(None, False, False, folder=folder)
        runner = FollowedRun(db, st) if is_followed(st.state, st.kind) else StoredRun(st)
        return ServerSession(st.id, runner, uploads, folder, video, self.config.expose_tracebacks,
                             created=st.created, db=db, kind=st.kind, definition=st.definition)

    def create(
        self,
        model: str | None,
        settings: PredictSettings,
        options: InputOptions,
        total: int,
        callback: Callback | None = None,
        plan: InputPlan | None = None,
        postprocess: RunUploader | None = None,
        video: dict[str, Any] | None = None,
        definition: dict[str, Any] | None = None,
    ) -> ServerSession:
        """A running session. Without ``plan`` its input is ``total`` items the client will upload.
        ``definition`` (the create request) is stored so that the session can be resumed after a restart."""
        self.sweep()
        worker = self.manager.get(model)
        if callback is not None:
            check_url(callback.url, self.config.allow_private_urls)
        self._reserve()
        try:
            session = self._build(uuid.uuid4().hex, worker, settings, options, total, callback, plan, postprocess, video)
            session.kind = "client" if plan is None else "workspace"
            session.definition = {**(definition or {}), "context": {"input": session.runner.plan.description}}
            if postprocess is not None and postprocess.run_id is not None:
                session.definition["run"] = {"run_id": postprocess.run_id, "project_id": postprocess.project_id}
            if self.db is not None:
                self.db.insert(session.id, worker.model.name, session.kind, session.definition, session.runner.status().total)
        except BaseException:
            with self._lock:
                self._starting -= 1
            raise
        with self._lock:
            self._sessions[session.id] = session
            self._starting -= 1  # listed now: counted as a session, no longer as a reservation
        session.runner.start()
        return session

    def resume(
        self,
        sid: str,
        settings: PredictSettings,
        options: InputOptions,
        plan: InputPlan | None = None,
        postprocess: RunUploader | None = None,
        video: dict[str, Any] | None = None,
    ) -> ServerSession:
        """Run an interrupted session on from its first unfinished item, under the same id and cursor.

        ``plan`` (workspace IDs) is the whole input again: the items already finished are passed over.
        Without it the client sends the remaining items (``total - done``), as at creation."""
        session = self.get(sid)
        status = session.status()
        if status.state is not SessionState.INTERRUPTED:
            raise ConflictError(f"session {sid} is {status.state.value}: only an interrupted session can be resumed", 409)
        worker = self.manager.get(status.context.get("model"))
        self._reserve()
        try:
            with self._lock:
                if session.status().state is not SessionState.INTERRUPTED:  # resumed meanwhile by another request
                    raise ConflictError(f"session {sid} is being resumed already", 409)
                new = self._build(sid, worker, settings, options, status.total - status.done if plan is None else status.total,
                                  None, plan, postprocess, video, first=status.done, failed_before=status.failed)
                session.runner, session.uploads, session.video = new.runner, new.uploads, new.video
                if plan is None and status.total == status.done:  # the last items were all finished: nothing to wait for
                    session.uploads.close()
                session.runner.context.update(session.definition.get("context", {}))
            if self.db is not None:
                self.db.claim(sid)
        finally:
            with self._lock:
                self._starting -= 1
        session.runner.start()
        return session

    def _reserve(self) -> None:
        """Count a session being built against ``max_sessions``, or refuse it (429)."""
        with self._lock:  # the check and the reservation are one step, so concurrent creates cannot both pass
            active = self._starting + sum(1 for s in self._sessions.values() if not s.status().state.is_final)
            if active >= self.config.max_sessions:
                raise RateLimitedError(
                    f"{active} sessions are running, the server's limit is {self.config.max_sessions}; "
                    "wait for one to finish or stop one", 429
                )
            self._starting += 1

    def _build(
        self,
        sid: str,
        worker: Any,
        settings: PredictSettings,
        options: InputOptions,
        total: int,
        callback: Callback | None,
        plan: InputPlan | None,
        postprocess: RunUploader | None,
        video: dict[str, Any] | None,
        first: int = 0,
        failed_before: int = 0,
    ) -> ServerSession:
        """A session, not yet listed or started, whose place under ``max_sessions`` is reserved."""
        folder = self.root / sid
        folder.mkdir(parents=True, exist_ok=True)
        uploads = UploadPlan(total, options, self.url_pool.image_blocking, self.config.max_image_pixels)
        if plan is not None:  # the server resolved the input itself (workspace IDs): nothing to upload
            uploads.received = plan.total
            uploads.close()
        model_view = WorkerModel(worker)
        video_steps = VideoSteps(**(video or {"tracking_config": None, "annotated_video": False, "traces": False}), stride=options.stride, folder=folder)
        steps = [st for st in (video_steps if video_steps.active else None, postprocess) if st is not None]
        finish_steps = chain_finish(steps)
        db = self.db

        def finished(status: SessionStatus) -> None:
            if finish_steps is not None:
                finish_steps(status)
            if db is not None:
                db.set_state(sid, status)
            if callback is not None:
                self._notify(callback, sid, status)

        runner = SessionRunner(
            model_view,
            plan or uploads.as_plan(f"{total} items sent by the client"),
            settings.resolved(model_view.default_settings),
            context={"session_id": sid},
            postprocess=chain_steps(steps),
            on_finish=finished,
            persist=None if db is None else (lambda position, preds, publish: db.append(sid, position, preds, publish)),
            first=first,
            failed_before=failed_before,
            skip_first=plan is not None,
            keep=None if db is None else self.config.session_memory_results,
        )
        return ServerSession(sid, runner, uploads, folder, video_steps, self.config.expose_tracebacks, db=db)

    def get(self, sid: str) -> ServerSession:
        with self._lock:
            session = self._sessions.get(sid)
        if session is None and self.db is not None and len(sid) <= 64:  # started since by another process (a Ray Data job)
            stored = self.db.load_one(sid)
            if stored is not None and is_followed(stored.state, stored.kind):
                with self._lock:
                    session = self._sessions.setdefault(sid, self._stored(self.db, stored))
        if session is None:
            raise NotFoundError(f"no session {sid!r}: it never existed, was deleted, or expired")
        session.touch()
        return session

    def stop(self, sid: str) -> ServerSession:
        session = self.get(sid)
        session.runner.stop()
        session.uploads.cancel()
        session.runner.join(timeout=60)
        return session

    def delete(self, sid: str) -> None:
        session = self.get(sid)
        with self._lock:
            self._sessions.pop(sid, None)
        session.runner.stop()
        session.uploads.cancel()
        if self.db is not None:
            self.db.delete(sid)  # a batch still in flight is not written after this (see SessionDB.append)
        shutil.rmtree(session.folder, ignore_errors=True)

    def list(self) -> list[ServerSession]:
        with self._lock:
            return list(self._sessions.values())

    def models_in_use(self) -> set[str]:
        """Names of the models that unfinished sessions run on (the manager never evicts these)."""
        return {s.runner.model.name for s in self.list() if not s.status().state.is_final}

    def sweep(self) -> None:
        """Stop sessions left waiting for uploads, and delete finished ones nobody read for a while."""
        now = time.monotonic()
        for s in self.list():
            idle = now - s.last_seen
            final = s.status().state.is_final
            if final and idle > self.config.session_ttl_s:
                self.delete(s.id)
            elif not final and not s.uploads.closed and idle > self.config.session_idle_s:
                log.info("session %s: no upload for %.0f s, stopping it", s.id, idle)
                s.runner.stop()
                s.uploads.cancel()

    def begin_shutdown(self) -> None:
        """The server is going down: every running session ends ``interrupted`` after its batch in flight,
        so its event streams and long polls end too (they see a final state)."""
        for s in self.list():
            s.runner.interrupt()
            s.uploads.cancel()

    def close(self) -> None:
        """Interrupt running sessions, wait for their batches in flight, write them, end the writer thread."""
        self.begin_shutdown()
        deadline = time.monotonic() + SHUTDOWN_JOIN_S
        for s in self.list():
            if isinstance(s.runner, FollowedRun):  # another process runs it: not this server's to end
                continue
            if not s.runner.join(max(0.0, deadline - time.monotonic())) and self.db is not None:
                status = s.status()  # a batch that did not end in time: its results are lost, the state is not
                status.state = SessionState.INTERRUPTED
                self.db.set_state(s.id, status)
        if self.db is not None:
            self.db.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def _notify(self, callback: Callback, sid: str, status: SessionStatus) -> None:
        body = {"session_id": sid, **status.to_dict(), "results": f"/v1/sessions/{sid}/results"}  # the link is relative to this server
        send_callback(callback.url, body, callback.username, callback.password, allow_private=self.config.allow_private_urls)
