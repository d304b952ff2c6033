"""The engine's session runner: a loader thread decodes items ahead of an inference thread that batches
them through the model. Results are kept in order, by cursor, until the session is dropped.

An image the model raises on becomes a failed item and the run goes on. The session itself fails only
when the error is the model's own: the model is gone (unloaded), or it raised on ``MODEL_BROKEN_AFTER``
images in a row, or on every image of a shorter input, without succeeding on any image in between.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from sightline.engine.status import SessionState, SessionStatus
from sightline.engine.worker import ItemFailure, prediction_of
from sightline.inputs.items import InputItem, InputPlan
from sightline.models.base import Model
from sightline.prediction import Prediction
from sightline.settings import PredictSettings

_END = object()
PUBLISH_TIMEOUT_S = 60.0  # how long the end of a run waits for its last results to be written
MODEL_BROKEN_AFTER = 8  # images in a row the model raised on before the session fails as the model's own error


class SessionRunner:
    """Runs one prediction session in the background. Thread-safe; ``stop`` acts within one batch."""

    def __init__(
        self,
        model: Model,
        plan: InputPlan,
        settings: PredictSettings,
        context: dict[str, Any] | None = None,
        postprocess: Callable[[Prediction, InputItem], None] | None = None,
        on_finish: Callable[[SessionStatus], None] | None = None,
        persist: Callable[[int, list[Prediction], Callable[[], None]], None] | None = None,
        first: int = 0,
        failed_before: int = 0,
        skip_first: bool = False,
        keep: int | None = None,
        replay: Callable[[int, InputItem], None] | None = None,
    ) -> None:
        """``persist(position, predictions, publish)`` is handed each batch's results (on the inference thread,
        which goes on to the next batch); it must call ``publish()`` once they are written, in order: only
        then are they readable, so a result a client has seen is never lost with the process. A resumed run starts at cursor ``first`` (``failed_before`` of the earlier items
        failed): its results are numbered from there, and with ``skip_first`` the plan's first ``first``
        items are passed over unread (the plan is the whole input again); otherwise the plan holds only the
        remaining items. ``keep``: at most this many published results stay in memory (the older ones are
        read from where ``persist`` wrote them); None keeps them all. ``replay(index, item)`` is called for each
        item passed over with ``skip_first``, in order, on the loader thread before the first remaining item is
        queued (so the inference thread sees all it did): a resumed video's tracker catches up on the frames
        finished before (see ``VideoSteps.replay``). What it raises ends the run failed."""
        self.model, self.plan, self.settings = model, plan, settings
        self.first = first  # the cursor position of ``_results[0]``: advances as old results leave memory
        self._resume_at, self._skip_first, self._keep, self._replay = first, skip_first, keep, replay
        self._published = 0
        self._persist = persist
        self._submitted = 0  # results handed to ``persist``; those published are in ``_results``
        self._interrupted = False
        self.context = {"model": model.name, "input": plan.description, "settings": settings.to_dict(), **(context or {})}
        self._postprocess = postprocess
        self._on_finish = on_finish
        self._results: list[Prediction] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._state = SessionState.PENDING
        self._total = plan.total if skip_first else first + plan.total
        self._failed = failed_before
        self._model_streak: list[ItemFailure] = []  # the model's failures since its last success
        self._model_succeeded = False
        self._error: str | None = None
        self._traceback: str | None = None
        self._started = self._ended = None  # type: float | None
        self._queue: queue.Queue = queue.Queue(maxsize=max(2, 2 * settings.batch_size))
        self._threads: list[threading.Thread] = []
        self._listeners: list[Callable[[], None]] = []

    # --- control ---------------------------------------------------------------------------------
    def start(self) -> SessionRunner:
        with self._cond:
            self._state = SessionState.RUNNING
            self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._load_loop, name="sightline-loader", daemon=True),
            threading.Thread(target=self._infer_loop, name="sightline-infer", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Ask the run to end after the batch in flight; finished results stay readable."""
        with self._cond:
            if not self._state.is_final:
                self._state = SessionState.STOPPING
                self._stop.set()
                self._changed()

    def interrupt(self) -> None:
        """Like ``stop``, but the run ends ``interrupted`` (resumable): the server is shutting down."""
        with self._cond:
            self._interrupted = True
        self.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the run is final. A loader stuck on a slow item is not waited for: its item is dropped."""
        infer = self._threads[1] if self._threads else None
        if infer is not None:
            infer.join(timeout)
        return self.status().state.is_final

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (cheap, non-blocking, from the run's threads) on every change a ``wait`` would see:
        new results, a new state. Returns the function that stops the calls; the listener calls it."""
        with self._cond:
            self._listeners.append(callback)

        def unlisten() -> None:
            with self._cond:
                if callback in self._listeners:
                    self._listeners.remove(callback)
        return unlisten

    def _changed(self) -> None:
        """Wake the waiters: threads on the condition, and listeners (an event stream's task). Called holding ``_cond``."""
        self._cond.notify_all()
        for callback in self._listeners:
            callback()

    # --- reading ---------------------------------------------------------------------------------
    def status(self) -> SessionStatus:
        with self._cond:
            done = self.first + len(self._results)
            end = self._ended or time.monotonic()
            elapsed = (end - self._started) if self._started else 0.0
            rate = self._published / elapsed if elapsed > 0 else 0.0
            state = self._visible_state()
            eta = None if state.is_final or rate == 0 else (self._total - done) / rate
            return SessionStatus(
                state=state,
                done=done,
                total=self._total,
                failed=self._failed,
                rate=rate,
                elapsed_s=elapsed,
                eta_s=eta,
                error=self._error,
                traceback=self._traceback,
                context=self.context,
            )

    def results(self, after: int = 0, limit: int | None = None) -> list[Prediction]:
        """Results from cursor position ``after`` on (never removed by reading); those before ``first`` are not here."""
        with self._cond:
            start = max(0, after - self.first)
            end = len(self._results) if limit is None else max(start, after + limit - self.first)
            return self._results[start:end]

    def window(self, after: int = 0, limit: int | None = None) -> tuple[int, list[Prediction]]:
        """``(first, results)``: the cursor of the oldest result in memory, and those from ``max(after, first)``
        on (at most ``limit`` counted from ``after``), read together."""
        with self._cond:
            return self.first, self.results(after, limit)

    def wait(self, after: int, timeout: float | None = None) -> bool:
        """Block until a result past ``after`` exists or the run is final; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.first + len(self._results) > after or self._visible_state().is_final, timeout)

    def __len__(self) -> int:
        return self._total

    def _visible_state(self) -> SessionState:
        """The state readers see: a failed run reads final only once its last results are readable too."""
        if self._state.is_final and self._published < self._submitted:
            return SessionState.STOPPING
        return self._state

    # --- the two threads -------------------------------------------------------------------------
    def _put(self, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _load_loop(self) -> None:
        try:
            for index, item in enumerate(self.plan, start=0 if self._skip_first else self._resume_at):
                if self._stop.is_set():
                    break
                if self._skip_first and index < self._resume_at:  # finished before the run was interrupted
                    if self._replay is not None:
                        self._replay(index, item)
                    continue
                item.meta.setdefault("index", index)
                if item.image is None and item.error is None and item.load is not None:
                    try:
                        item.image = item.load()
                    except Exception as exc:  # any decoder failure fails this item only
                        item.error = str(exc) or exc.__class__.__name__
                if not self._put(item):
                    break
        except Exception as exc:  # the input itself broke (e.g. a folder vanished): end the run
            self._put(("fatal", exc, traceback.format_exc()))
        finally:
            self._put(_END)

    def _next_batch(self) -> tuple[list[InputItem], bool]:
        batch: list[InputItem] = []
        while len(batch) < self.settings.batch_size:
            try:
                value = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():  # a slow item (a URL, say) must not delay a stop
                    return batch, False
                self._check_model()
                continue
            if value is _END:
                return batch, True
            if isinstance(value, tuple):
                _, exc, tb = value
                self._fail(f"reading the input failed: {exc}", tb)
                return batch, True
            batch.append(value)
            if self._stop.is_set():
                break
        return batch, False

    def _infer_loop(self) -> None:
        try:
            while not self._stop.is_set():
                batch, ended = self._next_batch()
                if batch and not self._stop.is_set():
                    self._run_batch(batch)
                if ended or self._state is SessionState.FAILED:
                    break
            ran_out = self._state is SessionState.RUNNING  # the input ended (not a stop, not a failure)
            if ran_out and self._model_streak and not self._model_succeeded:  # every image the model saw raised: a broken model
                self._fail_for_model(f"the model failed on all {len(self._model_streak)} images it was given")
        except Exception as exc:
            self._fail(f"{exc.__class__.__name__}: {exc}", traceback.format_exc())
        finally:
            self._finish()

    def _check_model(self) -> None:
        """Raise when the model was unloaded: a session waiting for input (a client's uploads) ends failed at once."""
        check = getattr(self.model, "check_loaded", None)  # a WorkerModel's; a bare Model is never unloaded under us
        if check is not None:
            check()

    def _run_batch(self, batch: list[InputItem]) -> None:
        good = [(it, it.image) for it in batch if it.error is None and it.image is not None]
        results = self.model.predict_batch([image for _, image in good], self.settings) if good else []
        by_item = {id(it): r for (it, _), r in zip(good, results)}
        out = []
        for it in batch:
            meta = dict(it.meta)
            if it.error is not None or it.image is None:
                out.append(Prediction.failed(it.error or "no image", **meta))
                continue
            result = by_item[id(it)]
            self._count_model_result(result)
            pred = prediction_of(result, it.image, **meta)
            pred._image = it.image if it.keep_image else None
            out.append(pred)
        if self._postprocess:  # e.g. the workspace upload: done before anyone can read the result
            for p, it in zip(out, batch):
                self._postprocess(p, it)
        position = self._resume_at + self._submitted
        self._submitted += len(out)
        if self._persist is None:
            self._publish(out)
        else:
            self._persist(position, out, lambda: self._publish(out))
        if len(self._model_streak) >= MODEL_BROKEN_AFTER:
            self._fail_for_model(f"the model failed on {len(self._model_streak)} images in a row")

    def _publish(self, out: list[Prediction]) -> None:
        with self._cond:
            self._results.extend(out)
            self._published += len(out)
            self._failed += sum(1 for p in out if p.error)
            if self._keep is not None and len(self._results) > self._keep:  # written already: readable from there
                drop = len(self._results) - self._keep
                del self._results[:drop]
                self.first += drop
            self._changed()

    def _count_model_result(self, result: Any) -> None:
        if isinstance(result, ItemFailure):
            self._model_streak.append(result)
        else:
            self._model_streak.clear()
            self._model_succeeded = True

    def _fail_for_model(self, summary: str) -> None:
        last = self._model_streak[-1]
        self._fail(f"{summary}; the last: {last.reason}", last.traceback)

    def _fail(self, message: str, tb: str) -> None:
        with self._cond:
            if not self._state.is_final:
                self._error, self._traceback = message, tb
                self._state = SessionState.FAILED
                self._stop.set()
                self._changed()

    def _finish(self) -> None:
        with self._cond:  # the run is final once every result it made is written and readable
            if not self._cond.wait_for(lambda: self._published >= self._submitted, timeout=PUBLISH_TIMEOUT_S):
                self._error = self._error or f"{self._submitted - self._published} results were not written within {PUBLISH_TIMEOUT_S:g} s"
            stopped = SessionState.INTERRUPTED if self._interrupted else SessionState.STOPPED
            final = {SessionState.STOPPING: stopped, SessionState.RUNNING: SessionState.COMPLETED}.get(self._state, self._state)
        self._stop.set()  # releases the loader if it waits on a full queue
        if self._on_finish:  # finishing work (closing a video file, say) happens before the session reads as final
            try:
                status = self.status()
                status.state = final
                self._on_finish(status)
            except Exception as exc:
                final = SessionState.FAILED
                self._error, self._traceback = f"finishing the session failed: {exc}", traceback.format_exc()
        with self._cond:
            self._state = final
            self._ended = time.monotonic()
            self._changed()
