"""A session running on a server: results pushed over server-sent events, kept locally by cursor.

If the event stream breaks, the reader reconnects from the last cursor it has (nothing is lost or
repeated); after ``max_retries`` failed reconnects the reader gives up and the next read raises.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from httpx_sse import EventSource

from sightline.client.downsize import restore
from sightline.client.transport import Transport
from sightline.client.uploader import Uploader
from sightline.engine.session import PredictionSession
from sightline.engine.status import SessionState, SessionStatus
from sightline.errors import ServerConnectionError, ServerError, SightlineError, TransportError
from sightline.prediction import Prediction

if TYPE_CHECKING:  # remote.py imports this module
    from sightline.client.remote import RemoteModel

RESULTS_PAGE = 1000  # the server's largest page


def status_from(d: dict[str, Any]) -> SessionStatus:
    keys = ("state", "done", "total", "failed", "rate", "elapsed_s", "eta_s", "error", "traceback", "context")
    return SessionStatus.from_dict({k: d.get(k) for k in keys} | {"context": d.get("context") or {}})


class RemotePredictionSession(PredictionSession):
    def __init__(
        self,
        transport: Transport,
        session_id: str,
        status: dict[str, Any],
        uploader: Uploader | None = None,
        progress_bar: Any = False,
        start: int = 0,
    ) -> None:
        self._transport = transport
        self.id = session_id
        self._offset = start  # results before this cursor are not fetched
        self._results: list[Prediction] = []
        self._status = status_from(status)
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._uploader = uploader
        self.video_target: str | Path | None = None
        self._closed = threading.Event()
        self.reconnects = 0
        self._model: RemoteModel | None = None  # the RemoteModel that made it (for resume)
        super().__init__(progress_bar)
        self._cursor = start
        self._reader = threading.Thread(target=self._read_events, name=f"sightline-events-{session_id[:8]}", daemon=True)
        self._reader.start()
        if uploader is not None:
            uploader.start()

    # --- the event reader ------------------------------------------------------------------------
    def _read_events(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                headers = {"Last-Event-ID": str(self._offset + len(self._results))}
                with self._transport.stream(f"/v1/sessions/{self.id}/events", headers=headers) as response:
                    failures = 0
                    for event in EventSource(response).iter_sse():
                        if self._closed.is_set():
                            return
                        if self._on_event(event.event, event.data):
                            return
            except ServerConnectionError as exc:
                failures += 1
                self.reconnects += 1
                if failures > self._transport.max_retries:
                    self._fail(exc)
                    return
                time.sleep(self._transport.backoff(failures))
            except (ServerError, TransportError) as exc:  # an answer that is an error, or a timeout
                self._fail(exc)
                return
            except Exception as exc:  # a malformed event must not leave readers waiting forever
                self._fail(SightlineError(f"reading session {self.id} events failed: {exc}"))
                return

    def _on_event(self, kind: str, data: str) -> bool:
        if kind not in ("result", "status", "end"):
            # httpx-sse yields a keepalive comment after an ``id:`` line as an empty "message" event (the SSE
            # spec dispatches nothing there); other kinds are for newer clients
            return False
        payload = json.loads(data)
        with self._cond:
            if kind == "result":
                pred = Prediction.from_dict(payload)
                if pred.index is None or pred.index >= self._offset + len(self._results):  # else a repeat after a reconnect
                    self._adopt(pred)
                    self._results.append(pred)
            elif kind in ("status", "end"):
                self._status = status_from(payload)
            self._cond.notify_all()
        return kind == "end"

    def _adopt(self, pred: Prediction) -> None:
        """Undo client-side downsizing and give back the caller's in-memory pixels."""
        up = self._uploader
        if up is None or pred.index is None:
            return
        scale = up.scales.pop(pred.index, None)
        if scale is not None:
            restore(pred, scale)
        pred._image = up.kept_images.pop(pred.index, None)

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = exc
            self._cond.notify_all()

    def _raise_if_broken(self) -> None:
        error = self._error or (self._uploader.error if self._uploader else None)
        if error is not None:
            raise error

    # --- PredictionSession -----------------------------------------------------------------------
    def status(self) -> SessionStatus:
        with self._cond:
            status = self._status
        if not status.state.is_final and not self._reader.is_alive():
            # the push channel is closed (or gave up on a dead server): ask, so a gone server raises
            # ServerConnectionError here rather than leaving a "running" status frozen for good
            status = self.refresh()
        return status

    def refresh(self) -> SessionStatus:
        """Ask the server now, rather than using the last pushed status."""
        status = status_from(self._transport.get(f"/v1/sessions/{self.id}"))
        with self._cond:
            self._status = status
        return status

    def stop(self) -> None:
        if self._uploader is not None:
            self._uploader.stop()
        status = status_from(self._transport.post(f"/v1/sessions/{self.id}/stop"))
        with self._cond:
            self._status = status
            self._cond.notify_all()

    def results(self, after: int = 0, limit: int | None = None) -> list[Prediction]:
        """Every finished prediction from ``after`` on, as a local session gives them.

        Pushed results are used where they have arrived; any the last known status counts as done but the
        event stream has not delivered yet (right after ``stop()``, or on a session just re-attached) are
        asked for and kept, so ``results()`` holds ``status().done`` items.
        """
        with self._cond:
            done, have = self._status.done, self._offset + len(self._results)
        end = done if limit is None else min(done, after + limit)
        if after < self._offset:  # from before where this reader attached: asked for, not kept
            return self._fetch(after, end)
        if have < end:
            self._keep(have, self._fetch(have, end))
        with self._cond:
            start = after - self._offset
            return self._results[start : len(self._results) if limit is None else start + limit]

    def _fetch(self, after: int, end: int) -> list[Prediction]:
        """Results ``after`` .. ``end`` from the server, page by page (fewer if it has fewer)."""
        got: list[Prediction] = []
        while after + len(got) < end:
            want = min(end - after - len(got), RESULTS_PAGE)
            page = self._transport.get(f"/v1/sessions/{self.id}/results", params={"after": after + len(got), "limit": want})
            if not page["results"]:
                break
            got.extend(Prediction.from_dict(d) for d in page["results"])
        return got

    def _keep(self, first: int, fetched: list[Prediction]) -> None:
        """Add fetched results at cursor ``first`` on, skipping any the event stream delivered meanwhile."""
        with self._cond:
            for position, pred in enumerate(fetched, start=first):
                if position == self._offset + len(self._results):
                    self._adopt(pred)
                    self._results.append(pred)
            self._cond.notify_all()

    def _wait(self, after: int, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        after -= self._offset
        with self._cond:
            while len(self._results) <= after and not self._finished():
                if self._error is not None or (self._uploader is not None and self._uploader.error is not None):
                    break
                if not self._reader.is_alive():  # the push channel ended: the server's word is final
                    self._cond.release()
                    try:
                        self.refresh()
                    finally:
                        self._cond.acquire()
                    if not self._finished():
                        self._error = SightlineError(f"session {self.id}: the event stream ended before the session did")
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.25 if remaining is None else min(0.25, remaining))
        if len(self._results) <= after:
            self._raise_if_broken()
        return True

    def _finished(self) -> bool:
        return self._status.state.is_final and self._offset + len(self._results) >= self._status.done

    def __len__(self) -> int:
        return self._status.total

    def ended(self) -> bool:
        """The server's session is final, or its events can no longer be read: no more progress will come."""
        with self._cond:
            return self._status.state.is_final or self._error is not None

    def wait_progress(self, done_at_least: int, timeout: float) -> None:
        """Block until the server has finished ``done_at_least`` items (used to pace uploads)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._status.done < done_at_least and not self._status.state.is_final and self._error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def _annotated_video(self, path: Path | None, source: str | None) -> Path:
        """Downloaded from the server: to ``path``, else to the path given at the call, else to a temporary file."""
        target = Path(path or self.video_target or tempfile.mkstemp(prefix="sightline-", suffix=".mp4")[1])
        return self._transport.download(f"/v1/sessions/{self.id}/video", target, params={"source": source} if source else None)

    def resume(self, input: Any = None, **options: Any) -> RemotePredictionSession:
        """Resume this session after the server restarted mid-run (its state reads ``interrupted``); see
        ``RemoteModel.resume``. Returns the session re-attached; this object stops reading."""
        if self._model is None:
            raise SightlineError("this session has no model handle to resume with: use model.resume(session_id, ...)")
        self._closed.set()
        return self._model.resume(self.id, input, **options)

    def delete(self) -> None:
        """Delete the session and its results on the server."""
        self._closed.set()
        self._transport.request("DELETE", f"/v1/sessions/{self.id}")

    def close(self) -> None:
        """Stop reading events here; the server's session goes on (``stop()`` ends it)."""
        self._closed.set()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)  # stops an unfinished session
        self._closed.set()
        if self._uploader is not None:  # the session is final: nothing more is sent
            self._uploader.stop()

    def __repr__(self) -> str:
        s = self._status
        return f"<RemotePredictionSession {self.id} {s.state.value} {s.done}/{s.total}>"


__all__ = ["RemotePredictionSession", "SessionState"]
