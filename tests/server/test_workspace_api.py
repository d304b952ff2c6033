"""The server's workspace: read API for the web app, workspace IDs as session input, uploads."""

from __future__ import annotations

import io
import json
import re

import httpx
import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.models.zoo import load_model
from sightline.server import ServerConfig, create_app
from sightline.workspace.records import Obj
from tests.servers import LiveServer


@pytest.fixture(params=["plain", pytest.param("ray", marks=pytest.mark.timeout(900))])
def ws_server(request, tmp_path, sample_dir):
    """A server with a workspace of one project: its own (``plain``), or Ray Serve's on PostgreSQL (``ray``,
    2 HTTP and 2 model replicas; the project gets a name of its own in that run-long database)."""
    if request.param == "ray":
        app = request.getfixturevalue("ray_app")
        ws, live, name = sightline.Workspace(app.db_url, blobs=app.blobs), app, f"Shapes {tmp_path.name}"
    else:
        ws, live, name = sightline.Workspace(tmp_path / "ws"), None, "Shapes"
    project = ws.create_project(name)
    dataset = ws.create_dataset(project.id, "train")
    for i in range(3):
        ws.add_image(dataset.id, sample_dir / f"img_{i:02d}.png")
    ws.add_annotations(ws.images(dataset_id=dataset.id)[0].id, [Obj("label", (1, 2, 30, 40))])
    if live is None:
        live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    yield live, ws, project, dataset
    if isinstance(live, LiveServer):
        live.stop()
    ws.close()


def test_read_api(ws_server):
    live, ws, project, dataset = ws_server
    u = live.url
    names = [p["name"] for p in httpx.get(f"{u}/v1/projects").json()["projects"]]
    assert names == ["Shapes"] if isinstance(live, LiveServer) else project.name in names  # Ray's database is the run's
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


# --- hostile input: IDs, names, malformed uploads, a full disk (SQLite and PostgreSQL) -----------

BAD_IDS = [2**31, 2**63, 2**64, -1, 0]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ws_server(request, tmp_path, sample_dir, sample_video):
    from tests.workspace.conftest import PG_URL, _reset_postgres

    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL: set SIGHTLINE_TEST_DATABASE_URL to run the workspace API against it")
        _reset_postgres(PG_URL)
        ws = sightline.Workspace(PG_URL, blobs=tmp_path / "blobs")
    else:
        ws = sightline.Workspace(tmp_path / "ws")
    project = ws.create_project("Shapes")
    dataset = ws.create_dataset(project.id, "train")
    image = ws.add_image(dataset.id, sample_dir / "img_00.png")
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    yield live, ws, project, dataset, image
    live.stop()
    ws.close()


def _error(r: httpx.Response) -> str:
    assert r.status_code < 500, (r.status_code, r.text)
    return r.json()["error"]["message"]


def test_impossible_ids_are_404_on_every_route(any_ws_server):
    live, *_ = any_ws_server
    u = live.url
    routes = [("/v1/projects/{}", "project"), ("/v1/projects/{}/datasets", "project"), ("/v1/projects/{}/classes", "project"),
              ("/v1/datasets/{}/images", "dataset"), ("/v1/images/{}", "image"), ("/v1/images/{}/file", "image"),
              ("/v1/images/{}/thumbnail", "image"), ("/v1/images/{}/annotations", "image"), ("/v1/videos/{}", "video")]
    with httpx.Client(base_url=u, timeout=30) as http:
        for route, kind in routes:
            for bad in BAD_IDS:
                r = http.get(route.format(bad))
                assert r.status_code == 404 and f"no {kind} {bad}" in _error(r), (route, bad, r.text)
            for bad in ["abc", "1.5", "9" * 5000]:
                r = http.get(route.format(bad))
                assert r.status_code == 422 and kind in _error(r), (route, bad[:20], r.text)


@pytest.mark.parametrize("key", ["project_id", "dataset_id", "image_ids", "video_id"])
def test_impossible_ids_in_session_bodies(any_ws_server, key):
    live, *_ = any_ws_server
    kind = key.split("_")[0]
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for bad in BAD_IDS:  # no row can have these: the body names the field and the range
            value = [bad] if key == "image_ids" else bad
            r = http.post("/v1/sessions", json={key: value})
            bound = "at least 1" if bad < 1 else "at most 2147483647"
            assert r.status_code == 422 and key in _error(r) and bound in _error(r), (key, bad, r.text)
        r = http.post("/v1/sessions", json={key: "one"})
        assert r.status_code == 422 and key in _error(r)
        r = http.post("/v1/sessions", json={key: [999_999] if key == "image_ids" else 999_999})  # possible, but absent
        assert r.status_code == 404 and f"no {kind} 999999" in _error(r), r.text
    with sightline.connect(live.url) as model, pytest.raises(sightline.InvalidSettingError, match="at most 2147483647"):
        model.predict(**{key: [2**63] if key == "image_ids" else 2**63})


@pytest.mark.parametrize("bad, words", [("..", "'..'"), ("a/b", "separator"), ("a\x00b", "control character"), ("x" * 10_000, "at most 1024 characters"), (123, "must be a string")])
def test_bad_project_names_over_http(any_ws_server, bad, words):
    live, ws, project, dataset, image = any_ws_server
    with httpx.Client(base_url=live.url, timeout=60) as http:
        r = http.post("/v1/sessions", json={"image_ids": [image.id], "upload": "create", "upload_project": bad})
        # the body's own check (a string of at most 1024 characters) or the store's (a valid project name)
        assert r.status_code == 422 and ("project name" in _error(r) and words in _error(r) or "upload_project must be" in _error(r)), r.text
        pred = {"image_id": image.id, "image_size": [360, 480], "boxes": [], "classes": []}
        r = http.post("/v1/uploads", data={"request": json.dumps({"mode": "create", "predictions": [pred], "project": bad})},
                      files=[("files", ("a.png", ws.image_bytes(image.id), "application/octet-stream"))])
        assert r.status_code == 422 and words in _error(r)
    assert [p.name for p in ws.projects()] == ["Shapes"]


GOOD = {"image_size": [360, 480], "boxes": [[1, 2, 30, 40]], "classes": ["c"], "scores": [0.9], "class_ids": [0]}
MALFORMED = [
    ("not a dict", r"predictions\[0\] must be an object"),
    ({**GOOD, "boxes": "x"}, r"predictions\[0\]\.boxes: must be a list"),
    ({**GOOD, "boxes": [[1, 2, 3]]}, r"predictions\[0\]\.boxes\[0\]: must be \[x0, y0, x1, y1\]"),
    ({**GOOD, "boxes": [[1, 2, "a", 4]]}, r"predictions\[0\]\.boxes\[0\]"),
    ({**GOOD, "boxes": [[30, 2, 1, 40]]}, r"predictions\[0\]\.boxes\[0\]: x1 < x0"),
    ({**GOOD, "classes": []}, r"predictions\[0\]\.classes: has 0 values for 1 boxes"),
    ({**GOOD, "classes": None}, r"predictions\[0\]\.classes: must name the class"),
    ({**GOOD, "classes": [5]}, r"predictions\[0\]\.classes\[0\]: must be a class name"),
    ({**GOOD, "classes": ["c\x00"]}, r"predictions\[0\]\.classes\[0\]: class name .* control character"),
    ({**GOOD, "classes": ["c" * 300]}, r"predictions\[0\]\.classes\[0\]: class name is too long"),
    ({**GOOD, "scores": [0.5, 0.5]}, r"predictions\[0\]\.scores: has 2 values for 1 boxes"),
    ({**GOOD, "scores": ["high"]}, r"predictions\[0\]\.scores\[0\]"),
    ({**GOOD, "class_ids": [-3]}, r"predictions\[0\]\.class_ids\[0\]"),
    ({**GOOD, "track_ids": [2**40]}, r"predictions\[0\]\.track_ids\[0\]"),
    ({**GOOD, "image_size": [360]}, r"predictions\[0\]\.image_size: must be \[height, width\]"),
    ({**GOOD, "image_size": [100000, 100000]}, r"predictions\[0\]\.image_size: .* over the server's limit"),
    ({**GOOD, "masks": [{"size": [360, 480], "counts": "??"}]}, r"predictions\[0\]\.masks\[0\]\.counts: is not valid RLE"),
    ({**GOOD, "masks": [{"size": [360, 480], "counts": [1, 2, 3]}]}, r"predictions\[0\]\.masks\[0\]\.counts: run lengths add up"),
    ({**GOOD, "masks": [{"size": [2, 2], "counts": "1"}]}, r"predictions\[0\]\.masks\[0\]\.size: must be image_size"),
    ({**GOOD, "masks": ["x"]}, r"predictions\[0\]\.masks\[0\]: must be COCO RLE"),
    ({**GOOD, "masks": [{"size": [360, 480], "counts": 7}]}, r"predictions\[0\]\.masks\[0\]\.counts"),
    ({**GOOD, "image_size": None, "masks": [{"size": [360, 480], "counts": "1"}]}, r"predictions\[0\]\.masks: need image_size"),
    ({**GOOD, "image_id": "1"}, r"predictions\[0\]\.image_id: must be a workspace ID"),
    ({**GOOD, "image_id": 2**63}, r"predictions\[0\]\.image_id: must be a workspace ID"),
    ({**GOOD, "frame_idx": -1}, r"predictions\[0\]\.frame_idx: must be an integer >= 0"),
    ({**GOOD, "source": ["x"]}, r"predictions\[0\]\.source: must be text"),
    ({**GOOD, "bogus": 1}, r"predictions\[0\]: unknown field\(s\) bogus"),
]


def test_malformed_uploads_are_422_naming_the_field(any_ws_server):
    live, ws, project, dataset, image = any_ws_server
    with httpx.Client(base_url=live.url, timeout=60) as http:
        for bad, words in MALFORMED:
            pred = {**bad, "image_id": bad.get("image_id", image.id)} if isinstance(bad, dict) else bad
            r = http.post("/v1/uploads", json={"mode": "append", "predictions": [pred]})
            assert r.status_code == 422, (bad, r.status_code, r.text)
            assert re.search(words, _error(r)), (words, _error(r))
        r = http.post("/v1/uploads", json={"mode": "append", "predictions": [{**GOOD, "image_id": image.id}], "model": "m\x00"})
        assert r.status_code == 422 and "model" in _error(r)
        # a class the project does not have yet is added to it (docs/workspace.md), not an error
        r = http.post("/v1/uploads", json={"mode": "append", "predictions": [{**GOOD, "image_id": image.id, "classes": ["zebra"]}]})
        assert r.status_code == 200 and r.json()["totals"]["added"] == 1
    assert "zebra" in [c.name for c in ws.classes(project.id)]


def test_full_disk_is_507_with_words_and_a_typed_sdk_error(any_ws_server, monkeypatch):
    from tests.workspace.test_hostile_inputs import full_disk_fdopen

    live, ws, project, dataset, image = any_ws_server
    data = ws.image_bytes(image.id)
    other = np.asarray(Image.open(io.BytesIO(data)))[::-1].copy()  # new bytes, so the blob store must write
    monkeypatch.setattr("sightline.workspace.blobs.os.fdopen", full_disk_fdopen)
    with sightline.connect(live.url) as model:
        (pred,) = model.predict(input=other)
        with pytest.raises(sightline.InsufficientStorageError, match="no space left") as caught:
            model.upload([pred], "create", project="full")
        assert caught.value.status == 507
    r = httpx.post(f"{live.url}/v1/sessions", json={"image_ids": [image.id], "upload": "create", "upload_project": "full2"}, timeout=60)
    assert r.status_code in (200, 201)  # the run starts; each copy-in that meets the full disk fails as that item
