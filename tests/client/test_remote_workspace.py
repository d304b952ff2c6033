"""``RemoteModel.workspace`` against a real server with a seeded workspace: the same records as a local one."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.client.workspace import RemoteWorkspace, record
from sightline.geometry import mask_to_rle, rle_to_mask
from sightline.models.zoo import load_model
from sightline.server import ServerConfig, create_app
from sightline.workspace.records import ImageInfo, Obj
from sightline.workspace.seed import DEMO_PROJECT, seed_demo
from tests.servers import LiveServer


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    ws = sightline.Workspace(tmp_path_factory.mktemp("ws"))
    project_id = seed_demo(ws)
    first = ws.images(project_id=project_id)[0]
    mask = np.zeros((first.height, first.width), bool)
    mask[10:30, 20:50] = True
    ws.add_annotations(first.id, [Obj("circle", (20, 10, 50, 30), mask_rle=mask_to_rle(mask)["counts"], score=0.75),
                                  Obj("square", (1, 2, 3, 4))])
    app = create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)
    live = LiveServer(app).start()
    with sightline.connect(live.url) as model:
        yield model, ws, project_id, mask
    live.stop()


def test_records_equal_the_local_workspace(seeded):
    model, ws, project_id, _ = seeded
    remote = model.workspace
    assert isinstance(remote, RemoteWorkspace) and model.workspace is remote  # cached
    assert remote.projects() == ws.projects() and remote.projects()[0].name == DEMO_PROJECT
    assert remote.project(project_id) == ws.project(project_id)
    datasets = remote.datasets(project_id)
    assert datasets == ws.datasets(project_id) and [d.name for d in datasets] == ["images", "videos"]
    classes = remote.classes(project_id)
    assert classes == ws.classes(project_id) and {c.name for c in classes} == {"circle", "square"}
    images_ds, videos_ds = datasets
    images = remote.images(images_ds.id)
    assert images == ws.images(dataset_id=images_ds.id) and len(images) == 4 and images[0].annotations == 2
    assert remote.videos(images_ds.id) == [] and remote.images(videos_ds.id) == []
    (video,) = remote.videos(videos_ds.id)
    assert video == ws.videos(videos_ds.id)[0] and video.name == "moving_shapes.mp4" and video.frame_count > 0
    assert remote.video(video.id) == video
    assert remote.image(images[1].id) == images[1]


def test_pixels_thumbnails_and_annotations(seeded):
    model, ws, project_id, mask = seeded
    remote = model.workspace
    first = ws.images(project_id=project_id)[0]
    assert remote.image_bytes(first.id) == ws.image_bytes(first.id)
    pixels = remote.read_image(first.id)
    assert pixels.dtype == np.uint8 and pixels.shape == (first.height, first.width, 3)
    assert np.array_equal(pixels, ws.read_image(first.id))
    thumb = Image.open(io.BytesIO(remote.thumbnail(first.id, size=64)))
    assert thumb.format == "JPEG" and max(thumb.size) == 64
    circle, square = remote.annotations(first.id)
    assert (circle["class"], circle["box"], circle["score"]) == ("circle", [20, 10, 50, 30], 0.75)
    assert np.array_equal(rle_to_mask(circle["mask"]), mask)
    assert (square["class"], square["mask"]) == ("square", None)
    assert remote.annotations(ws.images(project_id=project_id)[1].id) == []


def test_errors_are_typed(seeded, server):
    model, _, _, _ = seeded
    remote = model.workspace
    for call in (lambda: remote.project(4242), lambda: remote.datasets(4242), lambda: remote.images(4242),
                 lambda: remote.image(4242), lambda: remote.image_bytes(4242), lambda: remote.annotations(4242)):
        with pytest.raises(sightline.NotFoundError, match="4242") as caught:
            call()
        assert caught.value.status == 404
    with pytest.raises(sightline.InputError, match="size must be between 16 and 1024"):
        remote.thumbnail(remote.images(remote.datasets(remote.projects()[0].id)[0].id)[0].id, size=4)
    with sightline.connect(server.url) as bare, pytest.raises(sightline.NotFoundError, match="no workspace"):
        bare.workspace.projects()


def test_record_ignores_unknown_keys():
    data = {"id": 1, "dataset_id": 2, "project_id": 3, "name": "a.png", "width": 4, "height": 5, "hash": "h", "added_later": True}
    assert record(ImageInfo, data) == ImageInfo(1, 2, 3, "a.png", 4, 5, "h")
