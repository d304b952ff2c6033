"""The inference worker: one thread owns the model; jobs can run on that same thread."""

from __future__ import annotations

import threading

import sightline
from sightline.engine.worker import InferenceWorker


def test_call_runs_on_the_worker_thread_between_batches(demo_model, samples):
    worker = demo_model._worker
    name = worker.call(lambda: threading.current_thread().name)
    assert name.startswith("sightline-worker-")
    # batches keep working around calls
    (d,) = worker.predict([samples[0].image], sightline.PredictSettings().resolved(demo_model.model.default_settings))
    assert len(d) > 0
    assert worker.call(lambda: 41 + 1) == 42


def test_a_failing_call_raises_to_its_caller_only(demo_model):
    import pytest

    worker: InferenceWorker = demo_model._worker
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0)
    assert worker.call(lambda: "still alive") == "still alive"
