"""The inference worker: one thread owns the model; jobs can run on that same thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import supervision as sv

import sightline
from sightline.engine.worker import InferenceWorker, ItemFailure
from sightline.errors import ModelUnloadedError
from sightline.models.base import Model, Task


def test_call_runs_on_the_worker_thread_between_batches(demo_model, samples):
    worker = demo_model._worker
    name = worker.call(lambda: threading.current_thread().name)
    assert name.startswith("sightline-worker-")
    # batches keep working around calls
    (d,) = worker.predict([samples[0].image], sightline.PredictSettings().resolved(demo_model.model.default_settings))
    assert len(d) > 0
    assert worker.call(lambda: 41 + 1) == 42


def test_a_failing_call_raises_to_its_caller_only(demo_model):
    worker: InferenceWorker = demo_model._worker
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0)
    assert worker.call(lambda: "still alive") == "still alive"


# --- one image that makes the model raise fails only itself ------------------------------------------


def _poison() -> np.ndarray:
    """A 1×5000 image: the demo model raises on it (the resize to its input size gives width 0)."""
    return np.zeros((5000, 1, 3), dtype=np.uint8)


def _settings(model):
    return sightline.PredictSettings().resolved(model.default_settings)


class _Borrowed(Model):
    """The shared demo model, lent to a worker of the test's own: closing that worker leaves it loaded."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.name, self.classes, self.task = inner.name, inner.classes, inner.task
        self.default_settings, self.input_size, self.device, self.framework = inner.default_settings, inner.input_size, inner.device, inner.framework

    def predict_batch(self, images, settings):
        return self.inner.predict_batch(images, settings)


def test_a_poisoned_request_does_not_fail_the_request_merged_with_it(demo_model, samples):
    model = _Borrowed(demo_model.model)
    worker = InferenceWorker(model, max_batch_size=8, batch_wait_ms=300)  # both requests share one pass
    try:
        settings = _settings(demo_model.model)
        good = worker.submit([samples[0].image], settings)
        bad = worker.submit([_poison()], settings)
        (detections,) = good.result(timeout=120)
        assert isinstance(detections, sv.Detections) and len(detections) > 0
        (failure,) = bad.result(timeout=120)
        assert isinstance(failure, ItemFailure)
        assert "could not process this image" in failure.reason and "RuntimeError" in failure.reason
        assert "/" not in failure.reason.split(":", 1)[0]  # the words, no server file path in front
    finally:
        worker.close()


def test_a_request_of_five_with_one_poison_gets_four_results_and_one_failure(demo_model, samples):
    images = [samples[0].image, samples[1].image, _poison(), samples[2].image, samples[3].image]
    results = demo_model._worker.predict(images, _settings(demo_model.model))
    assert len(results) == 5
    assert isinstance(results[2], ItemFailure)
    assert all(isinstance(r, sv.Detections) and len(r) > 0 for i, r in enumerate(results) if i != 2)


class _HeldModel(Model):
    """A model whose forward pass waits for the test to open its gate."""

    def __init__(self) -> None:
        self.name, self.classes, self.task = "held", ["a"], Task.DETECTION
        self.default_settings, self.input_size, self.device, self.framework = {}, None, "cpu", "test"
        self.entered = threading.Event()
        self.gate = threading.Event()

    def predict_batch(self, images, settings):
        self.entered.set()
        self.gate.wait(60)
        return [sv.Detections.empty() for _ in images]


def test_unloading_fails_the_waiting_requests_at_once():
    model = _HeldModel()
    worker = InferenceWorker(model, max_batch_size=1, batch_wait_ms=0)
    settings = sightline.PredictSettings().resolved({})
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    in_flight = worker.submit([image], settings)
    assert model.entered.wait(30)
    waiting = [worker.submit([image], settings) for _ in range(3)]
    closer = threading.Thread(target=worker.close)
    closer.start()
    try:
        for future in waiting:
            with pytest.raises(ModelUnloadedError, match="model 'held' was unloaded"):
                future.result(timeout=5)  # not after the batch in flight: at once
        with pytest.raises(ModelUnloadedError, match="model 'held' was unloaded"):
            worker.submit([image], settings)
    finally:
        model.gate.set()
        closer.join(60)
    assert in_flight.done()


# --- callers take turns: one client's queue of heavy passes does not make another wait for all of it -------


class _Recording(_Borrowed):
    """The demo model, recording the ``img_size`` of each pass in the order the worker runs them."""

    def __init__(self, inner: Model) -> None:
        super().__init__(inner)
        self.passes: list[object] = []

    def predict_batch(self, images, settings):
        self.passes.append(settings.img_size)
        return super().predict_batch(images, settings)


def _hold(worker: InferenceWorker) -> threading.Event:
    """Keep the worker's thread busy until the returned event is set."""
    gate, holding = threading.Event(), threading.Event()
    threading.Thread(target=worker.call, args=(lambda: (holding.set(), gate.wait(60)),), daemon=True).start()
    assert holding.wait(30)
    return gate


def test_lanes_take_turns_so_a_late_small_request_does_not_wait_for_a_heavy_queue(demo_model, samples):
    model = _Recording(demo_model.model)
    worker = InferenceWorker(model, max_batch_size=2, batch_wait_ms=0)
    try:
        gate = _hold(worker)  # the worker waits while both clients queue up
        base = _settings(demo_model.model)
        heavy = sightline.PredictSettings(img_size=384).resolved(demo_model.model.default_settings)
        a = [worker.submit([samples[i].image] * 2, heavy, lane="client A") for i in range(6)]  # six full passes
        b = worker.submit([samples[0].image], base, lane="client B")  # the small request comes last
        gate.set()
        assert len(b.result(timeout=120)) == 1
        for f in a:
            f.result(timeout=120)
        # B runs at once (its lane had nothing waiting), not after A's six passes
        assert model.passes.index(base.img_size) == 0, model.passes
        # without lanes (a LocalModel) requests keep their arrival order
        model.passes.clear()
        gate2 = _hold(worker)
        a = [worker.submit([samples[i].image] * 2, heavy) for i in range(3)]
        b = worker.submit([samples[0].image], base)
        gate2.set()
        b.result(timeout=120)
        assert model.passes.index(base.img_size) == 3, model.passes
    finally:
        worker.close()
