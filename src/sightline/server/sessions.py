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
from sightline.engine.video_steps import VideoSteps
from sightline.engine.status import SessionStatus
from sightline.errors import NotFoundError, RateLimitedError
from sightline.inputs.items import InputPlan
from sightline.inputs.urls import FetchError, post_json
from sightline.server.config import ServerConfig
from sightline.server.errors import without_internals
from sightline.server.manager import ModelManager
from sightline.server.security import check_url
from sightline.server.uploads import UploadPlan
from sightline.server.url_pool import UrlFetchPool
from sightline.engine.worker import WorkerModel
from sightline.settings import InputOptions, PredictSettings
from sightline.workspace.run_upload import RunUploader

log = logging.getLogger("sightline.server")

POLL_FIRST_S = 0.01  # how soon an async reader looks again after progress...
POLL_MAX_S = 0.1  # ...backing off to this while the session is quiet


@dataclass
class Callback:
    url: str
    username: str | None = None
    password: str | None = None


@dataclass
class ServerSession:
    id: str
    runner: SessionRunner
    uploads: UploadPlan
    folder: Path
    video: VideoSteps
    expose_tracebacks: bool = False  # only for the server's owner: a traceback names the server's files
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)

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

    def describe(self) -> dict[str, Any]:
        """The status as a client reads it: the reason of a failure in words; its traceback for the owner only."""
        d = self.status().to_dict()
        if not self.expose_tracebacks:
            d["traceback"] = None
            d["error"] = d["error"] and without_internals(d["error"])
        d.update(id=self.id, created=self.created, input_closed=self.uploads.closed, received=self.uploads.received)
        return d


class SessionStore:
    def __init__(self, config: ServerConfig, manager: ModelManager, root: Path | None = None, *, url_pool: UrlFetchPool) -> None:
        self.config = config
        self.manager = manager
        self.url_pool = url_pool  # fetches the sessions' URL items (owned and closed by the app)
        self.root = Path(root or tempfile.mkdtemp(prefix="sightline-sessions-"))
        self._sessions: dict[str, ServerSession] = {}
        self._lock = threading.Lock()
        self._starting = 0  # sessions counted against max_sessions while being built, before they are listed

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
    ) -> ServerSession:
        """A running session. Without ``plan`` its input is ``total`` items the client will upload."""
        self.sweep()
        worker = self.manager.get(model)
        if callback is not None:
            check_url(callback.url, self.config.allow_private_urls)
        with self._lock:  # the check and the reservation are one step, so concurrent creates cannot both pass
            active = self._starting + sum(1 for s in self._sessions.values() if not s.status().state.is_final)
            if active >= self.config.max_sessions:
                raise RateLimitedError(
                    f"{active} sessions are running, the server's limit is {self.config.max_sessions}; "
                    "wait for one to finish or stop one", 429
                )
            self._starting += 1
        try:
            session = self._build(worker, settings, options, total, callback, plan, postprocess, video)
        except BaseException:
            with self._lock:
                self._starting -= 1
            raise
        with self._lock:
            self._sessions[session.id] = session
            self._starting -= 1  # listed now: counted as a session, no longer as a reservation
        session.runner.start()
        return session

    def _build(
        self,
        worker: Any,
        settings: PredictSettings,
        options: InputOptions,
        total: int,
        callback: Callback | None,
        plan: InputPlan | None,
        postprocess: RunUploader | None,
        video: dict[str, Any] | None,
    ) -> ServerSession:
        """A session, not yet listed or started, whose place under ``max_sessions`` is reserved."""
        sid = uuid.uuid4().hex
        folder = self.root / sid
        folder.mkdir(parents=True)
        uploads = UploadPlan(total, options, self.url_pool.image_blocking, self.config.max_image_pixels)
        if plan is not None:  # the server resolved the input itself (workspace IDs): nothing to upload
            uploads.received = plan.total
            uploads.close()
        model_view = WorkerModel(worker)
        video_steps = VideoSteps(**(video or {"tracking_config": None, "annotated_video": False, "traces": False}), stride=options.stride, folder=folder)
        steps = [st for st in (video_steps if video_steps.active else None, postprocess) if st is not None]
        finish_steps = chain_finish(steps)

        def finished(status: SessionStatus) -> None:
            if finish_steps is not None:
                finish_steps(status)
            if callback is not None:
                self._notify(callback, sid, status)

        runner = SessionRunner(
            model_view,
            plan or uploads.as_plan(f"{total} items sent by the client"),
            settings.resolved(model_view.default_settings),
            context={"session_id": sid},
            postprocess=chain_steps(steps),
            on_finish=finished,
        )
        return ServerSession(sid, runner, uploads, folder, video_steps, self.config.expose_tracebacks)

    def get(self, sid: str) -> ServerSession:
        with self._lock:
            session = self._sessions.get(sid)
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

    def close(self) -> None:
        for s in self.list():
            s.runner.stop()
            s.uploads.cancel()
        shutil.rmtree(self.root, ignore_errors=True)

    def _notify(self, callback: Callback, sid: str, status: SessionStatus) -> None:
        body = {"session_id": sid, **status.to_dict(), "results": f"/v1/sessions/{sid}/results"}  # the link is relative to this server
        send_callback(callback.url, body, callback.username, callback.password, allow_private=self.config.allow_private_urls)
