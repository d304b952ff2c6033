"""The HTTP side's view of a model that runs as a Ray Serve deployment: the ``InferenceWorker`` interface
(``predict``, ``busy``, ``close``...) over a ``DeploymentHandle``.

Each call (a session's batch, a synchronous predict's images) is one Serve request: the deployment's
``@serve.batch`` merges the calls of every client, session and HTTP replica into forward passes. A call
whose replica died (killed, its node lost) is sent again and lands on another replica, so a session loses
no item to a replica's death.

Importing this module needs Ray only when a worker is made (the handle's errors are looked up then).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sightline.engine.worker import ItemFailure, Result
from sightline.errors import ModelUnloadedError
from sightline.models.base import Model, Task
from sightline.settings import PredictSettings

log = logging.getLogger("sightline.server")

RETRIES = 4  # sends of one call after its replica died, before its images fail
RESULT_TIMEOUT_S = 300.0  # one call's answer, queueing included; a replica that hangs longer fails its images
RETRY_PAUSE_S = 0.5  # Serve notices a dead replica within about a second; the resend waits a little


class ServedModel(Model):
    """What the HTTP side knows of a deployed model: its description, never its weights."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.name = info["name"]
        self.classes = list(info["classes"])
        self.task = Task(info["task"])
        self.default_settings = dict(info["default_settings"])
        self.input_size = tuple(info["input_size"]) if info.get("input_size") else None
        self.device = info["device"]
        self.framework = info["framework"]

    def predict_batch(self, images: list[np.ndarray], settings: PredictSettings) -> list:  # pragma: no cover - never called
        raise RuntimeError("a served model predicts through its ServeWorker")


def _replica_lost_errors() -> tuple[type[BaseException], ...]:
    """The errors a request gets when its replica died under it (Ray's names, looked up once Ray is there)."""
    from ray import exceptions as rx

    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "ActorUnschedulableError")
    return tuple(getattr(rx, n) for n in names if hasattr(rx, n))


class ServeWorker:
    """``InferenceWorker``'s interface on a Serve deployment handle (the deployment batches, not this object).

    It has no thread of its own: ``predict`` runs on the caller's thread (a session's inference thread, a
    route's worker thread) and waits for the deployment's answers, at most ``RESULT_TIMEOUT_S`` each.
    """

    def __init__(self, handle: Any, info: dict[str, Any]) -> None:
        self.handle = handle
        self.model = ServedModel(info)
        self.max_batch_size = int(info.get("max_batch_size", 8))
        self.batches_run = 0  # requests answered (the deployment's own batches are in Serve's metrics)
        self.images_run = 0
        self.on_batch: Callable[[int, bool], None] | None = None
        self._lost = _replica_lost_errors()
        self._closed = False
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    def _unloaded(self) -> ModelUnloadedError:
        return ModelUnloadedError(f"model {self.model.name!r} was unloaded")

    def queued(self) -> int:
        return self._in_flight

    def busy(self) -> bool:
        return self._in_flight > 0

    def close(self, timeout: float = 0.0) -> None:
        """This HTTP replica stops using the deployment (the deployment itself is the cluster's)."""
        self._closed = True

    def predict(self, images: list[np.ndarray], settings: PredictSettings, lane: Any = None) -> list[Result]:
        """One result per image, in order: an ``sv.Detections`` or an ``ItemFailure``. ``lane`` (the caller) is
        not used: Serve queues each image as its own request at the deployment, and the replicas' batches mix
        every caller's images as they arrive (Serve has no per-caller turns; docs/scale-out.md)."""
        if self._closed:
            raise self._unloaded()
        if not images:
            return []
        with self._lock:
            self._in_flight += len(images)
        try:
            out = self._answer(self.handle.predict.remote(images, settings), images, settings)
        finally:
            with self._lock:
                self._in_flight -= len(images)
        self.batches_run += 1
        self.images_run += len(images)
        if self.on_batch is not None:
            self.on_batch(len(images), not all(isinstance(r, ItemFailure) for r in out))
        return out

    def _answer(self, response: Any, images: list[np.ndarray], settings: PredictSettings) -> list[Result]:
        """The answers to one call; sent again (to another replica) when the one that had it died."""
        for attempt in range(RETRIES + 1):
            try:
                return list(response.result(timeout_s=RESULT_TIMEOUT_S))
            except self._lost as exc:
                if self._closed:
                    raise self._unloaded() from exc
                if attempt == RETRIES:
                    failure = ItemFailure(f"the model's replicas kept failing ({exc.__class__.__name__}); this image was tried {RETRIES + 1} times")
                    return [failure] * len(images)
                log.warning("model %r: a replica died with %d images in it (%s); sending them again", self.model.name, len(images),
                            exc.__class__.__name__)
                time.sleep(RETRY_PAUSE_S * (attempt + 1))
                response = self.handle.predict.remote(images, settings)
        raise AssertionError("unreachable")
