"""Detached sessions: results as they come, progress, non-blocking reads, stop within one batch, failures."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import sightline
from sightline.engine.runner import MODEL_BROKEN_AFTER
from sightline.models.base import Model
from sightline.settings import PredictSettings


class GatedModel(Model):
    """The demo model behind a gate the test opens batch by batch, so timing never decides a result."""

    def __init__(self, inner: Model, fail_on_batch: int | None = None, fail_from_batch: int | None = None) -> None:
        self.inner = inner
        self.name, self.classes, self.task = inner.name, inner.classes, inner.task
        self.default_settings, self.input_size, self.device, self.framework = inner.default_settings, inner.input_size, inner.device, inner.framework
        self.gate = threading.Semaphore(0)
        self.batches = 0
        self.fail_on_batch = fail_on_batch
        self.fail_from_batch = fail_from_batch

    def predict_batch(self, images, settings: PredictSettings):
        self.gate.acquire()
        self.batches += 1
        if self.batches == self.fail_on_batch or (self.fail_from_batch is not None and self.batches >= self.fail_from_batch):
            raise RuntimeError("GPU fell off the bus")
        return self.inner.predict_batch(images, settings)


@pytest.fixture()
def gated(demo_model):
    return GatedModel(demo_model.model)


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_session_yields_as_produced_and_reports_progress(gated, samples):
    model = sightline.LocalModel(gated)
    images = [s.image for s in samples] * 2  # 12 images, batches of 4
    session = model.predict_detached(input=images, batch_size=4)
    assert len(session) == 12
    assert session.next(block=False) is None  # nothing can be ready: the gate is shut
    status = session.status()
    assert status.state is sightline.SessionState.RUNNING and status.done == 0 and status.total == 12
    gated.gate.release()
    first = session.next(timeout=30)
    assert first.index == 0
    _wait_for(lambda: session.progress() == (4, 12))
    assert not session.is_done()
    with pytest.raises(sightline.SessionTimeoutError):
        for _ in range(4):
            session.next(timeout=0.2)  # batch 2 is gated: the fourth read times out
    gated.gate.release(2)
    rest = list(session)
    assert [p.index for p in rest] == list(range(4, 12))
    status = session.status()
    assert status.state is sightline.SessionState.COMPLETED
    assert (status.done, status.total, status.failed) == (12, 12, 0)
    assert status.rate > 0 and status.eta_s is None
    assert status.context["model"] == "demo/shapes" and status.context["settings"]["batch_size"] == 4
    # reading never drains: the whole run stays available by cursor
    assert [p.index for p in session.results(0)] == list(range(12))
    assert [p.index for p in session.results(10, 5)] == [10, 11]


def test_stop_takes_effect_within_one_batch_and_keeps_results(gated, samples):
    model = sightline.LocalModel(gated)
    session = model.predict_detached(input=[s.image for s in samples] * 5, batch_size=3)  # 30 images
    gated.gate.release()
    _wait_for(lambda: session.progress()[0] == 3)
    gated.gate.release()  # lets the batch in flight finish, nothing more
    stopper = threading.Thread(target=session.stop)
    stopper.start()
    stopper.join(timeout=30)
    status = session.status()
    assert status.state is sightline.SessionState.STOPPED
    assert status.done in (3, 6)  # the batch in flight may finish; no further batch starts
    assert gated.batches <= 2
    assert [p.index for p in session] == list(range(status.done))


def test_stop_with_a_slow_url_does_not_wait_for_it(demo_model, samples):
    import socket

    # a server that accepts and never answers: the fetch would hang for its whole timeout
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"
    session = demo_model.predict_detached(input=[samples[0].image, url, samples[1].image], batch_size=4)
    time.sleep(0.3)
    started = time.monotonic()
    session.stop()
    assert time.monotonic() - started < 2.0
    assert session.status().state is sightline.SessionState.STOPPED
    listener.close()


def test_a_model_that_breaks_fails_the_session_and_keeps_earlier_results(demo_model, samples):
    # from its second forward pass on the model raises on everything: after MODEL_BROKEN_AFTER images in a
    # row the error is the model's own, not an image's
    gated = GatedModel(demo_model.model, fail_from_batch=2)
    model = sightline.LocalModel(gated)
    session = model.predict_detached(input=[s.image for s in samples] * 4, batch_size=2)  # 24 images
    gated.gate.release(1000)  # each failing batch is retried image by image
    got = []
    with pytest.raises(sightline.PredictionFailedError, match="GPU fell off the bus") as info:
        for p in session:
            got.append(p)
    assert [p.index for p in got if p.error is None] == [0, 1]
    assert all("GPU fell off the bus" in p.error for p in got[2:])
    status = session.status()
    assert status.state is sightline.SessionState.FAILED and "in a row" in status.error
    assert status.done == 2 + MODEL_BROKEN_AFTER < 24
    # the traceback was captured where the model raised, not where the error was read
    assert "predict_batch" in info.value.traceback and "GPU fell off the bus" in status.traceback


def test_a_model_that_fails_once_is_retried_image_by_image(demo_model, samples):
    gated = GatedModel(demo_model.model, fail_on_batch=2)
    model = sightline.LocalModel(gated)
    session = model.predict_detached(input=[s.image for s in samples], batch_size=2)
    gated.gate.release(1000)
    preds = list(session)
    assert session.status().state is sightline.SessionState.COMPLETED
    assert [p.index for p in preds] == list(range(6)) and all(p.error is None for p in preds)


def test_a_poisoned_image_in_the_middle_fails_only_itself(demo_model, samples):
    poison = np.zeros((5000, 1, 3), dtype=np.uint8)  # the demo model raises on it
    images = [s.image for s in samples[:3]] + [poison] + [s.image for s in samples[3:]]
    session = demo_model.predict_detached(input=images, batch_size=4)  # the poison shares a batch with good images
    preds = list(session)
    status = session.status()
    assert status.state is sightline.SessionState.COMPLETED
    assert (status.done, status.total, status.failed) == (7, 7, 1)
    assert [p.index for p in preds] == list(range(7))
    assert "could not process this image" in preds[3].error and "RuntimeError" in preds[3].error
    assert all(p.error is None and len(p) > 0 for i, p in enumerate(preds) if i != 3)


def test_predict_raises_for_failed_session(demo_model, samples):
    gated = GatedModel(demo_model.model, fail_on_batch=1)
    gated.gate.release(5)
    with pytest.raises(sightline.PredictionFailedError):
        sightline.LocalModel(gated).predict(input=samples[0].image)


def test_context_manager_stops_an_unfinished_session(gated, samples):
    model = sightline.LocalModel(gated)
    with model.predict_detached(input=[s.image for s in samples], batch_size=1) as session:
        gated.gate.release()
        session.next(timeout=30)
        gated.gate.release(1)
    assert session.status().state in (sightline.SessionState.STOPPED, sightline.SessionState.COMPLETED)
    assert session.status().state.is_final


def test_tqdm_bar_counts_results(demo_model, samples):
    import io

    from tqdm import tqdm

    bar = tqdm(total=3, file=io.StringIO())
    session = demo_model.predict_detached(input=[s.image for s in samples[:3]], tqdm=bar)
    list(session)
    assert bar.n == 3


def test_predict_is_list_of_detached(demo_model, samples):
    images = [s.image for s in samples[:3]]
    direct = demo_model.predict(input=images)
    detached = list(demo_model.predict_detached(input=images))
    for a, b in zip(direct, detached):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
        assert a.classes == b.classes


def test_batch_size_does_not_change_results(demo_model, samples):
    images = [s.image for s in samples]
    one = demo_model.predict(input=images, batch_size=1)
    four = demo_model.predict(input=images, batch_size=4)
    for a, b in zip(one, four):
        assert a.classes == b.classes
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.5)
