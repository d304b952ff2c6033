"""One client's failure stays theirs: a poisoned image, an unloaded model."""

from __future__ import annotations

import io
import threading
import time

import httpx
import numpy as np
import pytest
import supervision as sv
from PIL import Image

import sightline
from sightline.models.base import Model, Task
from sightline.models.demo.synthetic import make_sample


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


POISON = _png(Image.new("RGB", (1, 5000)))  # ~100 bytes; the demo model raises on it (its resize gives width 0)


def test_one_clients_poison_never_fails_another_clients_sessions(start_server):
    server = start_server()
    stop = threading.Event()
    answers: list[httpx.Response] = []

    def client_a() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while not stop.is_set():
                answers.append(http.post("/v1/predict", files=[("files", ("thin.png", POISON, "image/png"))]))
                stop.wait(0.1)

    attacker = threading.Thread(target=client_a, daemon=True)
    attacker.start()
    try:
        images = [make_sample(7, i, max_shapes=3, size=(96, 128)).image for i in range(40)]
        client_b = sightline.connect(server.url)
        sessions = [client_b.predict_detached(input=images) for _ in range(3)]
        for session in sessions:
            preds = list(session)
            status = session.status()
            assert status.state is sightline.SessionState.COMPLETED, status.error
            assert (status.done, status.failed) == (40, 0)
            assert len(preds) == 40 and all(p.error is None for p in preds)
    finally:
        stop.set()
        attacker.join(60)
    # the attacker's own item fails alone, in words, with status 200
    assert answers and all(r.status_code == 200 for r in answers)
    (pred,) = answers[-1].json()["predictions"]
    assert "could not process this image" in pred["error"] and "RuntimeError" in pred["error"]


def test_sync_predict_gives_the_poison_its_own_error_and_the_others_their_predictions(start_server, sample_dir):
    server = start_server()
    files = [("files", ("a.png", (sample_dir / "img_00.png").read_bytes(), "image/png")),
             ("files", ("thin.png", POISON, "image/png")),
             ("files", ("b.png", (sample_dir / "img_01.png").read_bytes(), "image/png"))]
    r = httpx.post(f"{server.url}/v1/predict", files=files, timeout=120)
    assert r.status_code == 200, r.text
    a, thin, b = r.json()["predictions"]
    assert a["error"] is None and len(a["boxes"]) > 0 and b["error"] is None and len(b["boxes"]) > 0
    assert thin["source"] == "thin.png" and "could not process this image" in thin["error"]
    assert "/" not in thin["error"] and "Traceback" not in thin["error"]  # words, no server paths


class HeldModel(Model):
    """A model whose forward passes wait until the test opens the gate."""

    def __init__(self) -> None:
        self.name, self.classes, self.task = "held", ["a"], Task.DETECTION
        self.default_settings, self.input_size, self.device, self.framework = {}, None, "cpu", "test"
        self.entered = threading.Event()
        self.gate = threading.Event()

    def predict_batch(self, images, settings):
        self.entered.set()
        self.gate.wait(60)
        return [sv.Detections.empty() for _ in images]


def test_unloading_a_model_fails_its_waiting_requests_and_sessions_at_once(start_server, sample_dir):
    model = HeldModel()
    server = start_server(model=model, max_batch_size=1)
    png = (sample_dir / "img_00.png").read_bytes()
    answers: dict[str, httpx.Response] = {}

    def post(key: str) -> None:
        answers[key] = httpx.post(f"{server.url}/v1/predict", files=[("files", ("a.png", png, "image/png"))], timeout=120)

    first = threading.Thread(target=post, args=("in_flight",))
    first.start()
    assert model.entered.wait(30)
    waiting = [threading.Thread(target=post, args=(f"waiting{i}",)) for i in range(2)]
    for t in waiting:
        t.start()
    session = sightline.connect(server.url, max_retries=0).predict_detached(input=[np.zeros((32, 32, 3), np.uint8)] * 3)
    idle = httpx.post(f"{server.url}/v1/sessions", json={"total": 2}, timeout=30).json()["id"]  # waits for uploads that never come
    time.sleep(1.0)  # the waiting requests and the session's batch are queued behind the held pass
    def unload_model() -> None:
        answers["unload"] = httpx.post(f"{server.url}/v1/models/unload", json={"model": "held"}, timeout=120)

    unload = threading.Thread(target=unload_model)  # it answers once the held pass ends
    unload.start()
    try:
        for t in waiting:
            t.join(10)  # at once, not after the held pass
            assert not t.is_alive(), "a request waiting for the unloaded model still waits"
        for i in range(2):
            r = answers[f"waiting{i}"]
            assert r.status_code == 503 and "model 'held' was unloaded" in r.json()["error"]["message"], r.text
        with pytest.raises(sightline.PredictionFailedError, match="model 'held' was unloaded"):
            list(session)
        assert session.status().state is sightline.SessionState.FAILED
        deadline = time.monotonic() + 10
        while (status := httpx.get(f"{server.url}/v1/sessions/{idle}", timeout=30).json())["state"] != "failed":
            assert time.monotonic() < deadline, f"a session waiting for uploads on the unloaded model did not end: {status}"
            time.sleep(0.1)
        assert "model 'held' was unloaded" in status["error"]
    finally:
        model.gate.set()
        first.join(60)
        unload.join(60)
    assert answers["unload"].status_code == 200  # once the pass in flight ended
    assert answers["in_flight"].status_code == 200
