"""The server's workspace: read API for the web app, workspace IDs as session input, uploads."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.models.zoo import load_model
from sightline.server import ServerConfig, create_app
from sightline.workspace.records import Obj
from tests.servers import LiveServer


@pytest.fixture()
def ws_server(tmp_path, sample_dir):
    ws = sightline.Workspace(tmp_path / "ws")
    project = ws.create_project("Shapes")
    dataset = ws.create_dataset(project.id, "train")
    for i in range(3):
        ws.add_image(dataset.id, sample_dir / f"img_{i:02d}.png")
    ws.add_annotations(ws.images(dataset_id=dataset.id)[0].id, [Obj("label", (1, 2, 30, 40))])
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    yield live, ws, project, dataset
    live.stop()


def test_read_api(ws_server):
    live, ws, project, dataset = ws_server
    u = live.url
    assert [p["name"] for p in httpx.get(f"{u}/v1/projects").json()["projects"]] == ["Shapes"]
    assert httpx.get(f"{u}/v1/projects/{project.id}").json()["images"] == 3
    (ds,) = httpx.get(f"{u}/v1/projects/{project.id}/datasets").json()["datasets"]
    assert (ds["name"], ds["images"]) == ("train", 3)
    imgs = httpx.get(f"{u}/v1/datasets/{dataset.id}/images").json()["images"]
    assert [i["name"] for i in imgs] == ["img_00.png", "img_01.png", "img_02.png"] and imgs[0]["annotations"] == 1
    thumb = Image.open(io.BytesIO(httpx.get(f"{u}/v1/images/{imgs[0]['id']}/thumbnail", params={"size": 64}).content))
    assert max(thumb.size) == 64
    raw = httpx.get(f"{u}/v1/images/{imgs[0]['id']}/file")
    assert raw.headers["content-type"] == "image/png" and raw.content == ws.image_bytes(imgs[0]["id"])
    ann = httpx.get(f"{u}/v1/images/{imgs[0]['id']}/annotations").json()
    assert ann["objects"][0]["class"] == "label" and ann["objects"][0]["box"] == [1, 2, 30, 40]
    assert httpx.get(f"{u}/v1/projects/999").status_code == 404
    assert "no project 999" in httpx.get(f"{u}/v1/projects/999").json()["error"]["message"]


def test_no_workspace_is_a_clear_404(server):
    r = httpx.get(f"{server.url}/v1/projects")
    assert r.status_code == 404 and "no workspace" in r.json()["error"]["message"]


def test_workspace_ids_and_uploads_through_the_sdk(ws_server, sample_dir):
    live, ws, project, dataset = ws_server
    with sightline.connect(live.url) as model:
        preds = model.predict(project_id=project.id, upload="iou_merge", iou_merge_threshold=0.9)
        assert [p.image_id for p in preds] == [i.id for i in ws.images(dataset_id=dataset.id)]
        assert all(p.project_id == project.id and p.dataset_id == dataset.id and p.upload["mode"] == "iou_merge" for p in preds)
        assert ws.images(dataset_id=dataset.id)[1].annotations == len(preds[1])
        again = model.predict(dataset_id=dataset.id, upload="iou_merge")
        assert sum(p.upload["added"] for p in again) == 0  # everything is a duplicate of the first run
        created = model.predict(input=[sample_dir / "img_03.png", np.asarray(Image.open(sample_dir / "img_04.png"))], upload="create", upload_project="from client")
        new = ws.project("from client")
        assert new.images == 2 and all(p.project_id == new.id for p in created)
        assert np.array_equal(ws.read_image(created[1].image_id), np.asarray(Image.open(sample_dir / "img_04.png")))
        with pytest.raises(sightline.InputError, match="input must be workspace IDs"):
            model.predict(input=sample_dir / "img_00.png", upload="replace")
        with pytest.raises(sightline.NotFoundError, match="no dataset 4242"):
            model.predict(dataset_id=4242)
