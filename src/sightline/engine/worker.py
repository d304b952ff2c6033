"""One inference worker per model: it owns the model, and merges concurrent requests into batches.

Used by the server (all clients) and by ``LocalModel`` (all sessions of the process).

Requests with the same settings that arrive within ``batch_wait_ms`` of each other share a forward
pass, up to ``max_batch_size`` images; two clients never call the model at the same time.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import supervision as sv

from sightline.models.base import Model
from sightline.settings import PredictSettings


T = TypeVar("T")


@dataclass(frozen=True)
class ItemFailure:
    """An image the model raised on when run alone; the other images of its request have results."""

    reason: str
    traceback: str = ""


@dataclass
class _Request:
    images: list[np.ndarray]
    settings: PredictSettings
    future: Future = field(default_factory=Future)
    call: Callable[[], Any] | None = None


class InferenceWorker:
    """Serialises access to one model and batches requests together."""

    def __init__(self, model: Model, max_batch_size: int = 8, batch_wait_ms: float = 3.0) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._held: list[_Request] = []  # requests with other settings than the batch being built
        self._thread = threading.Thread(target=self._loop, name=f"sightline-worker-{model.name}", daemon=True)
        self._closed = False
        self.batches_run = 0
        self.images_run = 0
        self._thread.start()

    def submit(self, images: list[np.ndarray], settings: PredictSettings) -> Future:
        """Queue images for prediction; the future resolves to one ``sv.Detections`` per image."""
        if self._closed:
            raise RuntimeError(f"model {self.model.name!r} was unloaded")
        request = _Request(images, settings)
        self._queue.put(request)
        return request.future

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker's own thread (between batches) and return its result.

        Torch work done on one long-lived thread reuses one OpenMP thread team; benchmarks use this so
        the bare model and the engine run under the same conditions.
        """
        request = _Request([], None)  # type: ignore[arg-type]
        request.call = fn
        self._queue.put(request)
        return request.future.result()

    def predict(self, images: list[np.ndarray], settings: PredictSettings) -> list[sv.Detections]:
        return self.submit(images, settings).result() if images else []

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.model.close()

    def _take(self, timeout: float | None) -> _Request | None | bool:
        if self._held:
            return self._held.pop(0)
        try:
            return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return False

    def _loop(self) -> None:
        while True:
            first = self._take(None)
            if first is None:
                return
            if first.call is not None:
                try:
                    first.future.set_result(first.call())
                except BaseException as exc:
                    first.future.set_exception(exc)
                continue
            batch = [first]
            size = len(first.images)
            deadline = time.monotonic() + self.batch_wait_s
            held: list[_Request] = []
            stop = False
            while size < self.max_batch_size:
                nxt = self._take(max(0.0, deadline - time.monotonic()))
                if nxt is False:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt.call is None and nxt.settings == first.settings:
                    batch.append(nxt)
                    size += len(nxt.images)
                else:
                    held.append(nxt)
            self._held = held + self._held
            self._run(batch)
            if stop:
                for r in self._held:
                    r.future.set_exception(RuntimeError(f"model {self.model.name!r} was unloaded"))
                return

    def _run(self, batch: list[_Request]) -> None:
        images = [im for r in batch for im in r.images]
        try:
            out: list[sv.Detections] = []
            for i in range(0, len(images), self.max_batch_size):
                out.extend(self.model.predict_batch(images[i : i + self.max_batch_size], batch[0].settings))
                self.batches_run += 1
            self.images_run += len(images)
        except BaseException as exc:  # every waiting request learns of the failure
            for r in batch:
                r.future.set_exception(exc)
            return
        pos = 0
        for r in batch:
            r.future.set_result(out[pos : pos + len(r.images)])
            pos += len(r.images)


class WorkerModel(Model):
    """A ``Model`` whose ``predict_batch`` goes through a worker: what sessions on a server run on."""

    def __init__(self, worker: InferenceWorker) -> None:
        inner = worker.model
        self.worker = worker
        self.name, self.classes, self.task = inner.name, inner.classes, inner.task
        self.default_settings, self.input_size = inner.default_settings, inner.input_size
        self.device, self.framework = inner.device, inner.framework

    def predict_batch(self, images: list[np.ndarray], settings: PredictSettings) -> list[sv.Detections]:
        return self.worker.predict(images, settings)
