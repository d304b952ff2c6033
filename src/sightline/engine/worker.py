"""One inference worker per model: it owns the model, and merges concurrent requests into batches.

Used by the server (all clients) and by ``LocalModel`` (all sessions of the process).

Requests with the same settings that arrive within ``batch_wait_ms`` of each other share a forward
pass, up to ``max_batch_size`` images; two clients never call the model at the same time.

Requests wait in lanes, one per caller (the server names them: a client's token or address, or a
session), and lanes take turns: each forward pass starts with the oldest request of the next lane in
line (a lane that had nothing waiting joins at the front; a lane just served goes to the back), and is
filled one request per lane per round. A client queueing many heavy requests
therefore delays another client's request by at most one pass per busy lane, never by its whole queue.
Without lanes (``LocalModel``) everything is one lane: first come, first served.

When a shared forward pass raises, the requests are run again apart, and a request that still raises
is halved until each failure is one image: an image the model cannot process (a 1×5000 PNG, say) gets
an ``ItemFailure`` in its place and never fails another image.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import supervision as sv

from sightline.errors import ModelUnloadedError
from sightline.models.base import Model
from sightline.prediction import Prediction
from sightline.settings import PredictSettings

log = logging.getLogger("sightline.worker")

T = TypeVar("T")
MAX_REASON_CHARS = 300
CLOSE_JOIN_S = 30.0  # how long close() waits for the batch in flight
POLL_S = 1.0  # how often a waiter checks that the worker thread is still alive
_PATH = re.compile(r"(?<![\w.])/(?:[\w.-]+/)+[\w.-]*")  # an absolute path in an exception's message


@dataclass(frozen=True)
class ItemFailure:
    """An image the model raised on when run alone; the other images of its request have results.

    ``reason`` is for the client (words, no server paths); ``traceback`` is for the server's log and
    for a session that decides the model itself is broken.
    """

    reason: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> ItemFailure:
        message = _PATH.sub("<path>", str(exc))
        words = f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__
        if len(words) > MAX_REASON_CHARS:
            words = words[: MAX_REASON_CHARS - 1] + "…"
        tb = "".join(traceback.format_exception(exc))
        return cls(f"the model could not process this image: {words}", tb)


Result = sv.Detections | ItemFailure


def prediction_of(result: Result, image: np.ndarray, **meta: Any) -> Prediction:
    """The ``Prediction`` of one image from its worker result (a failed one for an ``ItemFailure``)."""
    size = (int(image.shape[0]), int(image.shape[1]))
    if isinstance(result, ItemFailure):
        return Prediction.failed(result.reason, image_size=size, **meta)
    return Prediction(detections=result, image_size=size, **meta)


@dataclass
class _Request:
    images: list[np.ndarray]
    settings: PredictSettings
    future: Future = field(default_factory=Future)
    call: Callable[[], Any] | None = None
    lane: Any = None  # who waits: requests of one lane are served in order, lanes take turns


_CALLS = object()  # the lane of ``call`` requests (benchmarks, between batches)


class InferenceWorker:
    """Serialises access to one model and batches requests together.

    Its thread is ended by ``close()`` (the model is unloaded, or its ``LocalModel`` closed); every
    request still waiting then fails at once with ``ModelUnloadedError``.
    """

    def __init__(self, model: Model, max_batch_size: int = 8, batch_wait_ms: float = 3.0) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        # requests taken off the queue, by lane; the lane served last moves to the end (round-robin).
        # Touched by the worker thread, and by close() under _lock once the thread may be gone.
        self._lanes: OrderedDict[Any, deque[_Request]] = OrderedDict()
        self._lock = threading.Lock()  # orders submit against close: nothing is queued after close
        self._thread = threading.Thread(target=self._loop, name=f"sightline-worker-{model.name}", daemon=True)
        self._closed = False
        self._running = False  # a batch is in the model
        self.batches_run = 0
        self.images_run = 0
        self.on_batch: Callable[[int, bool], None] | None = None  # (images, succeeded) after each forward pass: metrics
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def _unloaded(self) -> ModelUnloadedError:
        return ModelUnloadedError(f"model {self.model.name!r} was unloaded")

    def _put(self, request: _Request) -> None:
        with self._lock:
            if self._closed:
                raise self._unloaded()
            self._queue.put(request)

    def submit(self, images: list[np.ndarray], settings: PredictSettings, lane: Any = None) -> Future:
        """Queue images for prediction; the future resolves to one result per image, in order: an
        ``sv.Detections``, or an ``ItemFailure`` for an image the model raised on by itself. ``lane`` names
        the caller, whose requests take turns with other lanes' (see the module's docstring).

        Raises ``ModelUnloadedError`` once the worker is closed (so does the future of a waiting request).
        """
        request = _Request(images, settings, lane=lane)
        self._put(request)
        return request.future

    def queued(self) -> int:
        """Requests waiting for the model (not counting the batch it is running)."""
        with self._lock:
            return self._queue.qsize() + sum(len(q) for q in self._lanes.values())

    def busy(self) -> bool:
        """Requests are waiting for the model or in it: unloading it now would fail them."""
        return self._running or self.queued() > 0

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker's own thread (between batches) and return its result.

        Torch work done on one long-lived thread reuses one OpenMP thread team; benchmarks use this so
        the bare model and the engine run under the same conditions.
        """
        request = _Request([], None, lane=_CALLS)  # type: ignore[arg-type]
        request.call = fn
        self._put(request)
        return self._wait(request.future)

    def predict(self, images: list[np.ndarray], settings: PredictSettings, lane: Any = None) -> list[Result]:
        """``submit`` and wait: one ``sv.Detections`` or ``ItemFailure`` per image."""
        return self._wait(self.submit(images, settings, lane)) if images else []

    def _wait(self, future: Future) -> Any:
        """The future's result; a worker thread that died without answering raises instead of hanging."""
        while True:
            try:
                return future.result(timeout=POLL_S)
            except FutureTimeout:
                if not self._thread.is_alive() and not future.done():
                    raise self._unloaded() from None

    def close(self, timeout: float = CLOSE_JOIN_S) -> None:
        """Unload: fail every waiting request at once, then wait up to ``timeout`` s for the batch in flight.

        The worker thread releases the model when that batch ends, so a model is never released under
        a forward pass.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiting = self._drain() + self._drain_lanes()
            self._queue.put(None)
        self._fail(waiting)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("model %r: the batch in flight did not end within %.0f s; it is released when it does", self.model.name, timeout)

    def _drain(self) -> list[_Request]:
        out: list[_Request] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if item is not None:
                out.append(item)

    def _drain_lanes(self) -> list[_Request]:
        out = [r for q in self._lanes.values() for r in q]
        self._lanes.clear()
        return out

    def _fail(self, requests: list[_Request]) -> None:
        for r in requests:
            if not r.future.done():
                r.future.set_exception(self._unloaded())

    def _pull(self, timeout: float | None) -> bool:
        """Move what has been submitted into the lanes, waiting up to ``timeout`` s (None: until something
        comes) for the first; False when nothing came or the worker is closing."""
        try:
            item = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return False
        got = False
        while True:
            if item is None:  # close(): it failed everything queued before this
                return False
            with self._lock:
                if self._closed:  # close() came between the get and now: it fails this request with the rest
                    self._queue.put(item)
                    return False
                if item.lane not in self._lanes:  # a lane with nothing waiting goes first: it was not served last
                    self._lanes[item.lane] = deque()
                    self._lanes.move_to_end(item.lane, last=False)
                self._lanes[item.lane].append(item)
            got = True
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return got

    def _next(self) -> _Request | None:
        """The oldest request of the next lane in turn; that lane goes to the back of the line."""
        with self._lock:
            for lane, q in self._lanes.items():
                request = q.popleft()
                if q:
                    self._lanes.move_to_end(lane)
                else:
                    del self._lanes[lane]
                return request
        return None

    def _fill(self, batch: list[_Request], size: int) -> int:
        """Add requests with the batch's settings, one per lane per round, until ``max_batch_size`` images."""
        settings = batch[0].settings
        added = True
        while added and size < self.max_batch_size:
            added = False
            with self._lock:
                for lane in list(self._lanes):
                    q = self._lanes[lane]
                    match = next((r for r in q if r.call is None and r.settings == settings), None)
                    if match is None:
                        continue
                    q.remove(match)
                    if not q:
                        del self._lanes[lane]
                    batch.append(match)
                    size += len(match.images)
                    added = True
                    if size >= self.max_batch_size:
                        break
        return size

    def _loop(self) -> None:
        try:
            self._serve()
        finally:  # however the thread ends, nobody is left waiting on it and the model is released
            with self._lock:
                self._closed = True
                waiting = self._drain_lanes() + self._drain()
            self._fail(waiting)
            try:
                self.model.close()
            except Exception:
                log.exception("model %r: releasing it failed", self.model.name)

    def _serve(self) -> None:
        while not self._closed:
            first = self._next()
            if first is None:
                self._pull(None)
                continue
            if first.call is not None:
                try:
                    first.future.set_result(first.call())
                except BaseException as exc:
                    first.future.set_exception(exc)
                continue
            batch = [first]
            size = self._fill(batch, len(first.images))
            deadline = time.monotonic() + self.batch_wait_s
            while size < self.max_batch_size and self._pull(max(0.0, deadline - time.monotonic())):
                size = self._fill(batch, size)
            if self._closed:  # close() failed every waiting request; these were taken before it
                self._fail(batch)
                return
            self._running = True
            try:
                self._run(batch)
            finally:
                self._running = False
            first = batch = None  # type: ignore[assignment]  # answered: its images go now, not when the next request comes

    def _forward(self, images: list[np.ndarray], settings: PredictSettings) -> list[sv.Detections]:
        out: list[sv.Detections] = []
        for i in range(0, len(images), self.max_batch_size):
            chunk = images[i : i + self.max_batch_size]
            try:
                out.extend(self.model.predict_batch(chunk, settings))
            except Exception:
                if self.on_batch is not None:
                    self.on_batch(len(chunk), False)
                raise
            self.batches_run += 1
            if self.on_batch is not None:
                self.on_batch(len(chunk), True)
        self.images_run += len(images)
        return out

    def _run(self, batch: list[_Request]) -> None:
        settings = batch[0].settings
        images = [im for r in batch for im in r.images]
        try:
            out = self._forward(images, settings)
        except Exception as exc:
            if self._closed:  # an unload is under way: the requests end with the model, not one image
                self._fail(batch)
                return
            log.info("model %r: a pass of %d images from %d requests raised %s; running them apart",
                     self.model.name, len(images), len(batch), exc.__class__.__name__)
            try:
                for r in batch:
                    r.future.set_result(self._apart(r.images, settings) if len(batch) > 1 else self._isolate(r.images, settings, exc))
            except ModelUnloadedError:
                self._fail(batch)
            return
        except BaseException as exc:  # e.g. KeyboardInterrupt: the waiters learn of it, the thread ends
            for r in batch:
                r.future.set_exception(exc)
            raise
        pos = 0
        for r in batch:
            r.future.set_result(out[pos : pos + len(r.images)])
            pos += len(r.images)

    def _apart(self, images: list[np.ndarray], settings: PredictSettings) -> list[Result]:
        """One request's results, run without the requests it was merged with."""
        try:
            return list(self._forward(images, settings))
        except Exception as exc:
            if self._closed:
                raise self._unloaded() from exc
            return self._isolate(images, settings, exc)

    def _isolate(self, images: list[np.ndarray], settings: PredictSettings, exc: Exception) -> list[Result]:
        """Results of images whose pass together raised ``exc``: halves are retried until each failure is one image."""
        if len(images) == 1:
            failure = ItemFailure.from_exception(exc)
            # INFO: the server logs it (its default level); a local script already has the reason in the Prediction
            log.info("model %r could not process an image of %s:\n%s", self.model.name, "×".join(map(str, images[0].shape)), failure.traceback)
            return [failure]
        mid = len(images) // 2
        return self._apart(images[:mid], settings) + self._apart(images[mid:], settings)


class WorkerModel(Model):
    """A ``Model`` whose ``predict_batch`` goes through a worker: what sessions on a server run on.

    Its results may hold ``ItemFailure``s in place of ``sv.Detections`` (``SessionRunner`` records them
    as failed items); it raises ``ModelUnloadedError`` when the model is gone.
    """

    def __init__(self, worker: InferenceWorker, lane: Any = None) -> None:
        inner = worker.model
        self.worker = worker
        self.lane = lane  # the session's turn at the worker (server/callers.py names it)
        self.name, self.classes, self.task = inner.name, inner.classes, inner.task
        self.default_settings, self.input_size = inner.default_settings, inner.input_size
        self.device, self.framework = inner.device, inner.framework

    def predict_batch(self, images: list[np.ndarray], settings: PredictSettings) -> list[Result]:  # type: ignore[override]
        return self.worker.predict(images, settings, lane=self.lane)

    def check_loaded(self) -> None:
        """Raise ``ModelUnloadedError`` once the model is unloaded, so a session waiting for input ends at once."""
        if self.worker.closed:
            raise self.worker._unloaded()
