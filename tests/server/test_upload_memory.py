"""Images a client sends into a session wait in memory, within a budget, rather than on the server's disk;
a stopped session frees them at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import sightline
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


def test_a_cancelled_session_frees_the_images_it_held():
    plan = UploadPlan(3, InputOptions(), fetch_image=lambda url: None, max_pixels=10**8)
    for i in range(3):
        plan.add(Upload("image", {"source": f"{i}.png"}, data=b"x" * 1000), 1)
    assert (plan.pending, plan.held_bytes) == (3, 3000)
    assert not plan.has_room(uploads.MEMORY_BUDGET_BYTES - 2999)

    plan.cancel()

    assert (plan.pending, plan.held_bytes) == (0, 0)
    assert list(plan.as_plan("x").produce()) == []
