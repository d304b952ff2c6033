"""Images a client sends into a session wait in memory, within a budget, rather than on the server's disk;
a session that ends (stopped or failed) frees them at once and takes no more items."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

import sightline
from sightline.models.zoo import load_model
from sightline.server import uploads
from sightline.server.routers import sessions as sessions_router
from sightline.server.uploads import Upload, UploadPlan
from sightline.settings import InputOptions


def _record_saves(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    saved: list[str] = []
    real = sessions_router.save_upload

    def save(upload, folder: Path) -> Path:  # type: ignore[no-untyped-def]
        saved.append(upload.filename)
        return real(upload, folder)

    monkeypatch.setattr(sessions_router, "save_upload", save)
    return saved


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def _boxes(preds) -> list[list[list[float]]]:  # type: ignore[no-untyped-def]
    return [np.round(p.detections.xyxy, 2).tolist() for p in preds]


def test_images_sent_to_a_session_never_touch_the_servers_disk_and_predict_as_from_disk(start_server, sample_dir, samples, monkeypatch):
    saved = _record_saves(monkeypatch)
    model = sightline.connect(start_server().url)
    files = sorted(sample_dir.glob("*.png"))
    arrays = [s.image for s in samples]

    from_files = model.predict(input=files, batch_size=4)
    from_arrays = model.predict(input=arrays, batch_size=4)

    assert saved == []  # neither the files nor the arrays (sent raw on loopback) were written by the server
    assert all(p.ok for p in from_files + from_arrays)
    assert [p.source for p in from_files] == [str(f) for f in files]
    assert sum(len(p.detections) for p in from_files) > 0

    monkeypatch.setattr(uploads, "MEMORY_BUDGET_BYTES", 0)  # no room in memory: every image waits on disk
    on_disk = model.predict(input=files, batch_size=4)
    assert len(saved) == len(files)
    assert _boxes(on_disk) == _boxes(from_files) == _boxes(from_arrays)


def test_the_memory_budget_is_shared_by_every_session_and_a_cancelled_one_frees_its_images(monkeypatch):
    monkeypatch.setattr(uploads, "MEMORY_BUDGET_BYTES", 10_000)
    first = UploadPlan(3, InputOptions(), fetch_image=lambda url: None, max_pixels=10**8)
    second = UploadPlan(1, InputOptions(), fetch_image=lambda url: None, max_pixels=10**8)
    for i in range(3):
        first.add(Upload("image", {"source": f"{i}.png"}, data=b"x" * 3000), 1)
    assert (first.pending, first.held_bytes) == (3, 9000)
    assert second.has_room(1000) and not second.has_room(1001)  # the other session's 9,000 bytes count

    first.cancel()

    assert (first.pending, first.held_bytes) == (0, 0)
    assert second.has_room(10_000)
    assert list(first.as_plan("x").produce()) == []


def test_a_session_that_fails_frees_the_images_still_waiting(start_server, monkeypatch):
    model = load_model("demo/shapes", "cpu")

    def broken(images, settings):  # type: ignore[no-untyped-def]
        raise RuntimeError("the model is broken")

    monkeypatch.setattr(model, "predict_batch", broken)
    live = start_server(model=model)
    u = live.url
    sid = httpx.post(f"{u}/v1/sessions", json={"total": 48, "settings": {"batch_size": 1}}).json()["id"]
    png = _png()
    files = [("files", (f"{i}.png", png, "image/png")) for i in range(16)]
    assert httpx.post(f"{u}/v1/sessions/{sid}/items", files=files, data={"meta": "[]"}).status_code == 200
    session = live.state.sessions.get(sid, None)
    assert session.runner.join(timeout=60)

    assert session.status().state.value == "failed"
    assert session.status().done < 16  # images were still waiting when it failed
    assert session.uploads.held_bytes == 0
    refused = httpx.post(f"{u}/v1/sessions/{sid}/items", files=files[:1], data={"meta": "[]"})
    assert refused.status_code == 409 and "input is closed" in refused.json()["error"]["message"]
