"""Uploading reviewed predictions: a preview (dry run) says exactly what the upload then does."""

from __future__ import annotations

import pytest

import sightline
from sightline.models.zoo import load_model
from sightline.server import ServerConfig, create_app
from sightline.upload_result import UploadTotals
from tests.servers import LiveServer


def _review(pred: sightline.Prediction, keep: int) -> sightline.Prediction:
    """Keep the first ``keep`` objects, as an annotator rejecting the rest would."""
    pred.detections = pred.detections[:keep]
    return pred


def _project_with_images(ws, sample_dir, n=3):
    project = ws.create_project("reviewed")
    dataset = ws.create_dataset(project.id, "d")
    for i in range(n):
        ws.add_image(dataset.id, sample_dir / f"img_{i:02d}.png")
    return project


def test_preview_then_upload_locally(ws, sample_dir):
    project = _project_with_images(ws, sample_dir)
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    model.predict(project_id=project.id, upload="append")  # existing objects to merge against
    preds = [_review(p, 2) for p in model.predict(project_id=project.id)]
    before = [img.annotations for img in ws.images(project_id=project.id)]
    preview = model.upload(preds, "iou_merge", dry_run=True)
    assert [img.annotations for img in ws.images(project_id=project.id)] == before  # a preview writes nothing
    kept = sum(len(p) for p in preds)
    assert preview.totals.skipped_duplicates == kept and preview.totals.added == 0
    done = model.upload(preds, "iou_merge")
    assert done.totals == preview.totals
    replaced = model.upload(preds, "replace")
    assert replaced.totals.replaced == sum(before) and replaced.totals.added == kept
    assert [img.annotations for img in ws.images(project_id=project.id)] == [len(p) for p in preds]


def test_create_from_reviewed_local_predictions(ws, sample_dir):
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    preds = [_review(p, 1) for p in model.predict(input=[sample_dir / "img_00.png", sample_dir / "img_01.png"])]
    preview = model.upload(preds, "create", project="kept", dry_run=True)
    assert preview.totals.added == 2 and preview.project_id is None
    with pytest.raises(sightline.NotFoundError):
        ws.project("kept")
    done = model.upload(preds, "create", project="kept")
    assert ws.project("kept").images == 2 and done.totals.added == 2
    assert preds[0].upload is None  # the caller's predictions are not changed by an upload


def test_upload_over_http(tmp_path, sample_dir):
    ws = sightline.Workspace(tmp_path / "ws")
    project = _project_with_images(ws, sample_dir, n=2)
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    try:
        with sightline.connect(live.url) as model:
            preds = [_review(p, 1) for p in model.predict(project_id=project.id)]
            preview = model.upload(preds, "append", dry_run=True)
            assert preview.totals.added == 2 and sum(i.annotations for i in ws.images(project_id=project.id)) == 0
            model.upload(preds, "append")
            assert sum(i.annotations for i in ws.images(project_id=project.id)) == 2
            local = [_review(p, 2) for p in model.predict(input=[sample_dir / "img_03.png"])]
            done = model.upload(local, "create", project="from review")
            assert done.totals.added == len(local[0]) and ws.project("from review").images == 1
            with pytest.raises(ValueError, match="upload must be one of"):
                model.upload(preds, "merge")
    finally:
        live.stop()


def test_large_uploads_go_in_parts_and_a_create_fills_one_project(tmp_path, sample_dir, monkeypatch):
    from sightline.client import remote

    monkeypatch.setattr(remote, "UPLOAD_PART_ITEMS", 2)  # 5 predictions: three requests
    ws = sightline.Workspace(tmp_path / "ws")
    project = _project_with_images(ws, sample_dir, n=5)
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    try:
        with sightline.connect(live.url) as model:
            preds = model.predict(project_id=project.id)
            objects = sum(len(p) for p in preds)
            preview = model.upload(preds, "append", dry_run=True)
            done = model.upload(preds, "append")
            assert preview.totals == done.totals and done.totals.added == objects and done.totals.images == 5
            assert len(done.items) == 5
            created = model.upload(preds, "create", project="in parts")
            assert created.totals.added == objects and created.totals.images == 5
            made = ws.project("in parts")
            assert made.id == created.project_id and made.images == 5 and made.datasets == 1
            assert len([p for p in ws.projects() if p.name == "in parts"]) == 1
    finally:
        live.stop()


def test_upload_returns_the_same_typed_result_locally_and_over_http(tmp_path, sample_dir):
    ws = sightline.Workspace(tmp_path / "ws")
    project = _project_with_images(ws, sample_dir, n=2)
    local = sightline.load("demo/shapes", device="cpu", workspace=ws)
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    try:
        with sightline.connect(live.url) as remote:
            answers = {}
            for where, model in {"local": local, "remote": remote}.items():
                preds = [_review(p, 1) for p in model.predict(project_id=project.id)]
                answers[where] = model.upload(preds, "append", dry_run=True)
    finally:
        live.stop()
    for answer in answers.values():
        assert isinstance(answer, sightline.UploadResult) and isinstance(answer.totals, UploadTotals)
        assert answer.totals.added == 2 and answer.project_id == project.id and len(answer.items) == 2
    assert answers["local"] == answers["remote"]
