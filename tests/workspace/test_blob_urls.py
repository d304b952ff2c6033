"""Blobs on an fsspec URL (S3 here, against moto's local server): the workspace stores, reads and predicts
from them as from the local folder, and nothing lands on the local disk but a video's decoding copy."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sightline
from sightline.paths import SAMPLES_DIR
from sightline.workspace.blobs import BlobStore, FsspecBlobStore, open_blobs
from sightline.workspace.seed import seed_demo
from sightline.workspace.store import Workspace
from tests.s3 import s3_blobs, s3_endpoint  # noqa: F401 (fixtures)


def test_a_workspace_keeps_its_blobs_in_s3(tmp_path, s3_blobs):  # noqa: F811
    url, options = s3_blobs
    ws = Workspace(tmp_path / "db", blobs=url, blob_options=options)
    assert isinstance(ws.blobs, FsspecBlobStore) and ws.blobs.location == url
    project = seed_demo(ws)
    assert project is not None and seed_demo(ws) is None  # the seed's marker is in the bucket too
    images = ws.images(project_id=project)
    assert images and ws.image_bytes(images[0].id) == (SAMPLES_DIR / images[0].name).read_bytes()
    key = f"{url.removeprefix('s3://')}/{images[0].hash[:2]}/{images[0].hash[2:4]}/{images[0].hash}"
    assert ws.blobs.fs.exists(key)
    assert not (tmp_path / "db" / "blobs").exists()  # nothing in the local folder
    video = next(v for d in ws.datasets(project) for v in ws.videos(d.id))
    assert ws.video_path(video.id).read_bytes() == (SAMPLES_DIR / video.name).read_bytes()

    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    preds = model.predict(project_id=project, upload="iou_merge")
    assert len(preds) == len(images) and all(p.error is None for p in preds)
    assert sum(len(ws.annotations(i.id)) for i in images) == sum(len(p.detections) for p in preds)
    ws.close()


def test_the_environment_names_the_blob_url_and_its_options(tmp_path, s3_blobs, monkeypatch):  # noqa: F811
    url, options = s3_blobs
    monkeypatch.setenv("SIGHTLINE_BLOBS", url)
    monkeypatch.setenv("SIGHTLINE_BLOBS_OPTIONS", json.dumps(options))
    ws = Workspace(f"sqlite:///{tmp_path / 'ws.db'}")
    d = ws.create_dataset(ws.create_project("p").id, "d")
    info = ws.add_image(d.id, np.zeros((8, 8, 3), dtype=np.uint8), name="black.png")
    again = open_blobs(url, options)
    assert again.read(info.hash) == ws.image_bytes(info.id)
    ws.close()


@pytest.mark.parametrize("location", ["folder", "file://folder"])
def test_a_folder_stays_the_default_store(tmp_path, location):
    store = open_blobs(location.replace("folder", str(tmp_path / "b")))
    assert isinstance(store, BlobStore) and store.read(store.put(b"x")) == b"x"
    assert (tmp_path / "b").is_dir()
