"""Detached sessions on the server: created, fed with uploads, read by cursor, stopped, expired."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sightline.engine.runner import SessionRunner
from sightline.engine.session import chain_finish, chain_steps
from sightline.engine.video_steps import VideoSteps
from sightline.engine.status import SessionStatus
from sightline.errors import NotFoundError, RateLimitedError
from sightline.inputs.items import InputPlan
from sightline.inputs.urls import FetchError, post_json
from sightline.server.config import ServerConfig
from sightline.server.manager import ModelManager
from sightline.server.security import check_url
from sightline.server.uploads import UploadPlan
from sightline.server.url_pool import UrlFetchPool
from sightline.engine.worker import WorkerModel
from sightline.settings import InputOptions, PredictSettings
from sightline.workspace.run_upload import RunUploader

log = logging.getLogger("sightline.server")


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
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def status(self) -> SessionStatus:
        return self.runner.status()

    def describe(self) -> dict[str, Any]:
        d = self.status().to_dict()
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
        with self._lock:
            active = sum(1 for s in self._sessions.values() if not s.status().state.is_final)
            if active >= self.config.max_sessions:
                raise RateLimitedError(
                    f"{active} sessions are running, the server's limit is {self.config.max_sessions}; "
                    "wait for one to finish or stop one", 429
                )
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
        session = ServerSession(sid, runner, uploads, folder, video_steps)
        with self._lock:
            self._sessions[sid] = session
        runner.start()
        return session

    def get(self, sid: str) -> ServerSession:
        with self._lock:
            session = self._sessions.get(sid)
        if session is None:
            raise NotFoundError(f"no session {sid!r}: it never existed, was deleted, or expired", 404)
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
        body = {"session_id": sid, **status.to_dict()}
        auth = (callback.username, callback.password or "") if callback.username else None

        def send() -> None:  # ends within the 10 s deadline of post_json
            try:  # checked again and pinned: the name may resolve elsewhere by now
                post_json(callback.url, body, auth=auth, timeout=10.0, allow_private=self.config.allow_private_urls)
            except FetchError as exc:
                log.warning("session %s: callback failed: %s", sid, exc)

        threading.Thread(target=send, daemon=True).start()
