"""Detached sessions on the server: created, fed with uploads, read by cursor, stopped, expired."""

from __future__ import annotations

import asyncio
import builtins
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
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
from sightline.inputs.items import InputItem, InputPlan
from sightline.prediction import Prediction
from sightline.request import Callback
from sightline.server.callers import Caller
from sightline.server.config import ServerConfig
from sightline.server.errors import without_internals
from sightline.server.followed import FollowedRun, is_followed
from sightline.server.manager import ModelManager
from sightline.server.security import check_url
from sightline.server.session_db import SessionDB, StoredState, wire_dict, wire_text
from sightline.server.shared_sessions import LeaseKeeper, SharedRun, SharedUploads
from sightline.server.uploads import UploadPlan
from sightline.server.url_pool import UrlFetchPool
from sightline.settings import InputOptions, PredictSettings, parse_options
from sightline.workspace.run_upload import RunUploader

log = logging.getLogger("sightline.server")

POLL_FIRST_S = 0.01  # how soon an async reader looks again after progress...
POLL_MAX_S = 0.1  # ...backing off to this while the session is quiet
SHUTDOWN_JOIN_S = 30.0  # how long shutdown waits for a session's batch in flight
REPLAY_PAGE = 256  # stored results read at once when a resumed video replays its finished frames


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
    runner: SessionRunner | StoredRun | SharedRun | FollowedRun
    uploads: UploadPlan | SharedUploads
    folder: Path
    video: VideoSteps
    expose_tracebacks: bool = False  # only for the server's owner: a traceback names the server's files
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)
    db: SessionDB | None = None
    kind: str = "client"  # "workspace": the server owns the input (resumable alone); "client": uploads and URLs
    definition: dict[str, Any] = field(default_factory=dict)  # the create request, as stored (no callback)
    owned_by: str | None = None  # the digest of its owner's API key or client token (server/callers.py); None: anyone with its id

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def status(self) -> SessionStatus:
        return self.runner.status()

    async def wait_async(self, after: int, timeout: float) -> bool:
        """Like ``runner.wait`` but on the event loop: True once a result past ``after`` exists or the run is
        final, False after ``timeout`` seconds.

        It holds no worker thread: event streams and long polls would otherwise each hold one of the
        server's ~40 worker threads and stall every sync route. A run of this process wakes it as soon as a
        result or state lands (``SessionRunner.listen``); a run read from the database (another process's)
        is looked at again every ``POLL_FIRST_S``, backing off to ``POLL_MAX_S``, which also bounds a missed
        wake-up. Being a plain coroutine, it ends early when its task is cancelled: a client that
        disconnects, or the server shutting down (uvicorn cancels open responses after
        ``timeout_graceful_shutdown``).
        """
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:  # on the run's thread
            try:
                loop.call_soon_threadsafe(woken.set)
            except RuntimeError:  # the loop closed (the server is shutting down): nobody waits any more
                pass

        listen = getattr(self.runner, "listen", None)  # only a SessionRunner changes in this process
        unlisten = listen(wake) if listen is not None else None
        pause = POLL_FIRST_S
        try:
            while True:
                woken.clear()  # before looking: a change after the look sets it again
                if self.runner.wait(after, 0):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(woken.wait(), min(pause, remaining))
                except TimeoutError:
                    pass
                pause = min(pause * 2, POLL_MAX_S)
        finally:
            if unlisten is not None:
                unlisten()

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

    def result_texts(self, after: int, limit: int) -> list[str]:
        """Like ``result_dicts``, as JSON texts (what an event stream sends): made once per result, when it was
        written, or read as stored."""
        first, page = self.runner.window(after, limit)
        if after >= first or self.db is None:
            return [wire_text(p) for p in page]
        want = min(limit, first - after)
        out = self.db.result_texts(self.id, after, want)
        if len(out) < want:  # rows missing: never skip past a hole
            return out
        return out + [wire_text(p) for p in page]

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
        # shared: other processes serve these sessions too (docs/scale-out.md); nothing is restored or
        # interrupted at startup, a session is read from the database when asked for, and leases decide who runs it
        self.shared = db is not None and config.shared_sessions
        self.keeper: LeaseKeeper | None = None
        self._releasing = False  # shutting down in shared mode: running sessions are handed over, not interrupted
        if self.shared:
            assert db is not None
            db.lost = self._lost
            db.stop_requested = self._stop_requested
        elif db is not None:
            self._restore(db)

    # --- shared sessions ----------------------------------------------------------------------------
    def start_leases(self, on_lapsed: Callable[[str], None]) -> None:
        """Start renewing leases (shared mode); ``on_lapsed(sid)`` runs a session whose owner's lease lapsed here."""
        if self.shared and self.keeper is None:
            assert self.db is not None
            self.keeper = LeaseKeeper(self.db, self._owned, self._lease_news, on_lapsed, self._stop_requested)

    def _owned(self) -> list[str]:
        with self._lock:
            return [sid for sid, s in self._sessions.items() if isinstance(s.runner, SessionRunner) and not s.status().state.is_final]

    def _lease_news(self, sid: str, seen: tuple | None) -> None:
        """What a renewal learnt of a session this process runs: gone, taken over, asked to stop, or fed."""
        with self._lock:
            session = self._sessions.get(sid)
        if session is None:
            return
        if seen is None or seen[0] != (self.db.owner if self.db else None):
            self._drop_local(session, "was deleted" if seen is None else "was taken over by another process")
            return
        _, stop_requested, received = seen
        if stop_requested:
            session.runner.stop()
            session.uploads.cancel()
        if received != getattr(session, "_received_seen", None):
            session._received_seen = received  # type: ignore[attr-defined]
            session.touch()  # an upload through another process counts as activity (session_idle_s)

    def _lost(self, sid: str) -> None:
        """A write found the session owned by another process: this one stops running it."""
        with self._lock:
            session = self._sessions.get(sid)
        if session is not None:  # off the writer thread, which holds the database; the thread ends with _drop_local (no waits)
            threading.Thread(target=self._drop_local, args=(session, "was taken over by another process"), daemon=True).start()

    def _stop_requested(self, sid: str) -> None:
        with self._lock:
            session = self._sessions.get(sid)
        if session is not None:
            session.runner.stop()  # only sets flags: safe on the writer thread
            session.uploads.cancel()

    def _drop_local(self, session: ServerSession, why: str) -> None:
        log.info("session %s %s: this process stops running it", session.id, why)
        session.runner.stop()
        session.uploads.cancel()
        with self._lock:
            if self._sessions.get(session.id) is session:
                self._sessions.pop(session.id)

    def _view(self, sid: str) -> ServerSession | None:
        """A session run by another process (or by none), read from the database."""
        assert self.db is not None
        live = self.db.live(sid)
        if live is None:
            return None
        row = live[0]
        try:  # the create request's options, checked when it was made: a video sent here is sampled as its owner samples it
            options = parse_options((row.definition or {}).get("options") or {})
        except Exception:
            options = InputOptions()
        uploads = SharedUploads(self.db, sid, options, self.url_pool.image_blocking, self.config.max_image_pixels)
        folder = self.root / sid
        return ServerSession(sid, SharedRun(self.db, sid, row.model), uploads, folder, VideoSteps(None, False, False, folder=folder),
                             self.config.expose_tracebacks, created=row.created_at.timestamp(),
                             db=self.db, kind=row.kind, definition=row.definition or {}, owned_by=row.owned_by)

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
                             created=st.created, db=db, kind=st.kind, definition=st.definition, owned_by=st.owned_by)

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
        caller: Caller | None = None,
    ) -> ServerSession:
        """A running session. Without ``plan`` its input is ``total`` items the client will upload.
        ``definition`` (the create request) is stored so that the session can be resumed after a restart.
        ``caller`` owns it (None: nobody, reached by its id) and its batches wait in the caller's lane."""
        self.sweep()
        worker = self.manager.get(model)
        if callback is not None:
            check_url(callback.url, self.config.allow_private_urls)
        self._reserve()
        try:
            session, runner = self._build(uuid.uuid4().hex, worker, settings, options, total, callback, plan, postprocess, video,
                                  lane=caller.lane if caller else None)
            session.owned_by = caller.owner if caller else None
            session.kind = "client" if plan is None else "workspace"
            session.definition = {**(definition or {}), "context": {"input": runner.plan.description}}
            if postprocess is not None and postprocess.run_id is not None:
                session.definition["run"] = {"run_id": postprocess.run_id, "project_id": postprocess.project_id}
            if self.db is not None:
                self.db.insert(session.id, worker.model.name, session.kind, session.definition, session.runner.status().total,
                               owned_by=session.owned_by, closed=plan is not None)
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
        caller: Caller | None = None,
        takeover: bool = False,
    ) -> ServerSession:
        """Run an interrupted session on from its first unfinished item, under the same id and cursor.

        ``plan`` (workspace IDs) is the whole input again: the items already finished are passed over.
        Without it the client sends the remaining items (``total - done``), as at creation (shared mode: the
        remaining items queued in the database). ``takeover``: this process has just claimed the running session
        of one whose lease lapsed (``SessionDB.take_lapsed``), and runs it on from the database's ``done``."""
        session = self.get(sid, caller)
        status = session.status()
        if takeover:
            return self._take_over(session, status, settings, options, plan, postprocess, video)
        if status.state is not SessionState.INTERRUPTED:
            raise ConflictError(f"session {sid} is {status.state.value}: only an interrupted session can be resumed", 409)
        if self.shared and isinstance(session.runner, (SharedRun, StoredRun)):
            assert self.db is not None
            self.db.claim(sid)
            return self._take_over(session, status, settings, options, plan, postprocess, video)
        worker = self.manager.get(status.context.get("model"))
        self._reserve()
        try:
            with self._lock:
                if session.status().state is not SessionState.INTERRUPTED:  # resumed meanwhile by another request
                    raise ConflictError(f"session {sid} is being resumed already", 409)
                new, runner = self._build(sid, worker, settings, options, status.total - status.done if plan is None else status.total,
                                  None, plan, postprocess, video, first=status.done, failed_before=status.failed,
                                  lane=caller.lane if caller else None, replay=plan is not None)
                session.runner, session.uploads, session.video = new.runner, new.uploads, new.video
                if plan is None and status.total == status.done:  # the last items were all finished: nothing to wait for
                    session.uploads.close()
                runner.context.update(session.definition.get("context", {}))
            if self.db is not None:
                self.db.claim(sid)
        finally:
            with self._lock:
                self._starting -= 1
        session.runner.start()
        return session

    def _take_over(self, view: ServerSession, status: SessionStatus, settings: PredictSettings, options: InputOptions,
                   plan: InputPlan | None, postprocess: RunUploader | None, video: dict[str, Any] | None) -> ServerSession:
        """Run here a session claimed from a process whose lease lapsed, from its first unfinished item."""
        worker = self.manager.get(status.context.get("model"))
        self._reserve()
        try:
            # the owner's lane (a client's token digest) when it has one: its turns are the same on every replica
            session, runner = self._build(view.id, worker, settings, options, status.total - status.done if plan is None else status.total,
                                          None, plan, postprocess, video, first=status.done, failed_before=status.failed,
                                          lane=view.owned_by, replay=plan is not None)
            session.kind, session.definition, session.created = view.kind, view.definition, view.created
            session.owned_by = view.owned_by
            runner.context.update(view.definition.get("context", {}))
            with self._lock:
                self._sessions[view.id] = session
        finally:
            with self._lock:
                self._starting -= 1
        session.runner.start()
        return session

    def fail_claimed(self, sid: str, reason: str) -> None:
        """End a session this process claimed but cannot run, failed with ``reason`` (never left claimed and idle)."""
        if self.db is not None:
            view = self._view(sid)
            status = view.status() if view is not None else SessionStatus(SessionState.FAILED, 0, 0, 0, 0.0, 0.0, None, None, None, {})
            status.state, status.error = SessionState.FAILED, reason
            self.db.set_state(sid, status)

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
        lane: str | None = None,
        replay: bool = False,
    ) -> tuple[ServerSession, SessionRunner]:
        """A session, not yet listed or started, whose place under ``max_sessions`` is reserved, and its runner.
        ``replay``: a resumed run whose finished video frames go through its video steps again from their stored results."""
        folder = self.root / sid
        folder.mkdir(parents=True, exist_ok=True)
        uploads: UploadPlan | SharedUploads
        if self.shared:  # queued in the database (the input's state too: written by insert, add and close)
            assert self.db is not None
            uploads = SharedUploads(self.db, sid, options, self.url_pool.image_blocking, self.config.max_image_pixels, start=first)
        else:
            uploads = UploadPlan(total, options, self.url_pool.image_blocking, self.config.max_image_pixels)
            if plan is not None:  # the server resolved the input itself (workspace IDs): nothing to upload
                uploads.received = plan.total
                uploads.close()
        model_view = WorkerModel(worker, lane=lane or f"session:{sid}")
        video_steps = VideoSteps(**(video or {"tracking_config": None, "annotated_video": False, "traces": False}), stride=options.stride, folder=folder)
        steps = [st for st in (video_steps if video_steps.active else None, postprocess) if st is not None]
        finish_steps = chain_finish(steps)
        db = self.db

        def finished(status: SessionStatus) -> None:
            if self._releasing and status.state is SessionState.INTERRUPTED and db is not None:
                db.release(sid)  # shared, shutting down: another process runs it on at once
                return
            if isinstance(uploads, UploadPlan):
                uploads.cancel()  # the run is over: images still waiting are never read; free their memory now
            if finish_steps is not None:
                finish_steps(status)
            if db is not None:
                db.set_state(sid, status)
            if callback is not None:
                self._notify(callback, sid, status)

        runner = SessionRunner(
            model_view,
            plan or (uploads.as_plan(f"{total} items sent by the client", total) if isinstance(uploads, SharedUploads)
                     else uploads.as_plan(f"{total} items sent by the client")),
            settings.resolved(model_view.default_settings),
            context={"session_id": sid},
            postprocess=chain_steps(steps),
            on_finish=finished,
            persist=None if db is None else (lambda position, preds, publish: db.append(sid, position, preds, publish)),
            first=first,
            failed_before=failed_before,
            skip_first=plan is not None,
            keep=None if db is None else self.config.session_memory_results,
            replay=self._replayer(sid, video_steps) if replay and db is not None and video_steps.active else None,
        )
        return ServerSession(sid, runner, uploads, folder, video_steps, self.config.expose_tracebacks, db=db), runner

    def _replayer(self, sid: str, steps: VideoSteps) -> Callable[[int, InputItem], None]:
        """For a resumed video run: each finished frame's stored result, read by pages, into ``steps.replay``."""
        db = self.db
        assert db is not None
        page: dict[int, dict[str, Any]] = {}

        def replay(index: int, item: InputItem) -> None:
            if item.video_file is None:
                return
            if index not in page:
                page.clear()
                page.update(db.results_at(sid, index, REPLAY_PAGE))
            stored = page.get(index)
            if stored is None:
                raise RuntimeError(f"the stored result of frame {item.meta.get('frame_idx')} (item {index}) is missing: "
                                   "the tracks cannot go on as they were")
            steps.replay(Prediction.from_dict(stored), item)

        return replay

    def get(self, sid: str, caller: Caller | None) -> ServerSession:
        """The session ``sid`` if ``caller`` may see it (``None``: the server itself, which sees all). Another
        owner's session is "not found", in the same words as one that never existed: ids reveal nothing."""
        with self._lock:
            session = self._sessions.get(sid)
        if session is not None and self.shared and not isinstance(session.runner, SharedRun) and not self.db.exists(sid):  # type: ignore[union-attr]
            # deleted through another process: the lease renewal would tell this one a period later, and never
            # once the session has finished, so a GET here answered 200 for a session deleted through another replica
            self._drop_local(session, "was deleted")
            session = None
        if session is None and self.shared:
            session = self._view(sid)
        if session is None and self.db is not None and len(sid) <= 64:  # started since by another process (a Ray Data job)
            stored = self.db.load_one(sid)
            if stored is not None and is_followed(stored.state, stored.kind):
                with self._lock:
                    session = self._sessions.setdefault(sid, self._stored(self.db, stored))
        if session is None or (caller is not None and not caller.may_see(session.owned_by)):
            raise NotFoundError(f"no session {sid!r}: it never existed, was deleted, or expired")
        session.touch()
        return session

    def stop(self, sid: str, caller: Caller | None) -> ServerSession:
        session = self.get(sid, caller)
        if self.shared and self.db is not None:
            self.db.request_stop(sid)  # kept: a process that takes the session over finds it stopping
        session.runner.stop()
        session.uploads.cancel()
        session.runner.join(timeout=60)
        return session

    def delete(self, sid: str, caller: Caller | None) -> None:
        session = self.get(sid, caller)
        if isinstance(session.runner, SharedRun):  # another process runs it: it sees the rows gone and stops
            assert self.db is not None
            self.db.delete_now(sid)
            shutil.rmtree(session.folder, ignore_errors=True)
            return
        with self._lock:
            self._sessions.pop(sid, None)
        session.runner.stop()
        session.uploads.cancel()
        if self.db is not None and self.shared:
            # at once, not queued: the next request may land on another process, which reads the database
            # (a batch still queued here is dropped: its session's row is gone, SessionDB._insert)
            self.db.delete_now(sid)
        elif self.db is not None:
            self.db.delete(sid)  # a batch still in flight is not written after this (see SessionDB.append)
        shutil.rmtree(session.folder, ignore_errors=True)

    def list(self) -> builtins.list[ServerSession]:
        """Every session (for the server itself; a client's listing is ``owned_by``); in shared mode those other
        processes run too (read from the database)."""
        local = self._local()
        if not self.shared:
            return local
        assert self.db is not None
        mine = {s.id for s in local}
        views = [self._view(st.id) for st in self.db.load() if st.id not in mine]
        return local + [v for v in views if v is not None]

    def _local(self) -> builtins.list[ServerSession]:
        with self._lock:
            return list(self._sessions.values())

    def owned_by(self, caller: Caller) -> builtins.list[ServerSession]:
        """The sessions ``caller`` owns; an anonymous caller owns none (its sessions are reached by id only)."""
        if caller.owner is None:
            return []
        return [s for s in self.list() if s.owned_by == caller.owner]

    def models_in_use(self) -> set[str]:
        """Names of the models that unfinished sessions run on (the manager never evicts these)."""
        # a session read back after a restart (StoredRun) runs nothing: it is final, and has no model
        return {s.runner.model.name for s in self._local() if isinstance(s.runner, SessionRunner) and not s.status().state.is_final}

    def sweep(self) -> None:
        """Stop sessions left waiting for uploads, and delete finished ones nobody read for a while."""
        now = time.monotonic()
        for s in self._local():
            idle = now - s.last_seen
            final = s.status().state.is_final
            if final and idle > self.config.session_ttl_s:
                self.delete(s.id, None)
            elif not final and not s.uploads.closed and idle > self.config.session_idle_s:
                log.info("session %s: no upload for %.0f s, stopping it", s.id, idle)
                s.runner.stop()
                s.uploads.cancel()

    def begin_shutdown(self) -> None:
        """The server is going down: every running session ends ``interrupted`` after its batch in flight,
        so its event streams and long polls end too (they see a final state). Shared: each is handed over
        instead (its lease released after the batch in flight), and another process runs it on."""
        self._releasing = self.shared
        for s in self._local():
            s.runner.interrupt()
            s.uploads.cancel()

    def close(self) -> None:
        """Interrupt running sessions, wait for their batches in flight, write them, end the writer thread."""
        if self.keeper is not None:
            self.keeper.close()
        self.begin_shutdown()
        deadline = time.monotonic() + SHUTDOWN_JOIN_S
        for s in self._local():
            if isinstance(s.runner, FollowedRun):  # another process runs it: not this server's to end
                continue
            if not s.runner.join(max(0.0, deadline - time.monotonic())) and self.db is not None and not self.shared:
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
