"""Supervisely's ``ModelAPI(url=...)`` and ``PredictionSession``, unchanged, against ``/supervisely`` on a live server."""

from __future__ import annotations

import shutil

import httpx
import numpy as np
import pytest
import requests
from supervisely.nn.model.model_api import ModelAPI
from supervisely.nn.model.prediction_session import PredictionSession

import sightline
from sightline.models.zoo import load_model
from sightline.paths import SAMPLES_DIR
from sightline.server import ServerConfig, create_app
from sightline.workspace.seed import seed_demo
from tests.compat.conftest import KEY
from tests.servers import LiveServer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
VIDEO = str(SAMPLES_DIR / "moving_shapes.mp4")


def model_api(server, key: str | None = None) -> ModelAPI:  # type: ignore[no-untyped-def]
    base = server.url if key is None else server.url.replace("http://", f"http://sightline:{key}@")
    return ModelAPI(url=base + "/supervisely")


def assert_agrees(pred, local, masks: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Same classes, boxes (Supervisely's inclusive [top, left, bottom, right]) and masks as ``sightline.load``."""
    assert pred.classes == local.classes
    assert np.allclose(pred.scores, local.scores, atol=1e-4)
    if masks and len(local) == 0:
        assert len(pred.masks) == len(pred.boxes) == 0
    elif masks:  # a bitmap's box is its mask's extent (Supervisely derives it)
        assert np.array_equal(pred.masks, local.masks)
        extents = [(ys.min(), xs.min(), ys.max(), xs.max()) for ys, xs in (np.nonzero(m) for m in local.masks)]
        assert np.array_equal(pred.boxes, np.array(extents).reshape(-1, 4))
    else:
        x1, y1, x2, y2 = local.boxes.T
        assert np.allclose(pred.boxes, np.stack([y1, x1, y2 - 1, x2 - 1], axis=1).reshape(-1, 4), atol=1.0)


def test_model_info(open_server):
    m = model_api(open_server)
    assert m.get_classes() == ["circle", "square", "triangle"]
    meta = m.get_model_meta()
    assert {c.geometry_type.geometry_name() for c in meta.obj_classes} == {"bitmap"} and meta.get_tag_meta("confidence") is not None
    assert m.is_deployed() and m.status()["is_deployed"]
    assert m.get_info()["model_name"] == "demo/shapes" and m.get_info()["task_type"] == "instance segmentation"
    assert m.get_settings()["conf"] == 0.5 and "track_activation_threshold" in m.get_tracking_settings()
    assert "demo/shapes" in m.list_pretrained_models()


def test_predict_image_and_folder_agree_with_sightline(open_server, local_model, sample_dir):
    m = model_api(open_server)
    path = str(SAMPLES_DIR / "shapes_1.jpg")
    (pred,) = m.predict(input=path, conf=0.5, show_progress=False)
    (local,) = local_model.predict(path, conf=0.5)
    assert len(pred.classes) > 0
    assert_agrees(pred, local)
    preds = m.predict(input=str(sample_dir), classes=["circle"], show_progress=False)
    locals_ = {p.image_path.rsplit("/", 1)[-1]: p for p in local_model.predict(str(sample_dir), classes=["circle"])}
    assert len(preds) == len(locals_) == 6 and {p.name for p in preds} == set(locals_)
    for pred in preds:  # the client lists the folder in directory order; results follow it
        assert set(pred.classes) <= {"circle"}
        assert_agrees(pred, locals_[pred.name])


def test_numpy_input_reaches_the_server(open_server, local_model, monkeypatch):
    """supervisely 6.74.51 drops the iterator of its own NumPy path (``_predict_images`` is not assigned), so
    ``predict(np_array)`` fails in the client before reading results. With that one line patched, the
    request it sends (a PNG per array) gets the right answer from sightline."""
    image = np.asarray(local_model.predict(str(SAMPLES_DIR / "shapes_2.jpg"))[0].image)
    with pytest.raises(AttributeError):
        model_api(open_server).predict(input=image, show_progress=False)
    original = PredictionSession._predict_images

    def assigning(self, images, **kwargs):  # type: ignore[no-untyped-def]
        self._iterator = original(self, images, **kwargs)
        return self._iterator

    monkeypatch.setattr(PredictionSession, "_predict_images", assigning)
    (pred,) = model_api(open_server).predict(input=image, show_progress=False)
    (local,) = local_model.predict(image)
    assert_agrees(pred, local)


def test_video_with_tracking(open_server, local_model):
    m = model_api(open_server)
    preds = m.predict(input=VIDEO, stride=10, tracking=True, show_progress=False)
    locals_ = local_model.predict(VIDEO, stride=10, tracking=True, tracking_config={"tracker": "botsort"})
    assert [p.frame_index for p in preds] == [p.frame_idx for p in locals_] and preds[1].frame_index == 10
    for pred, local in zip(preds, locals_):
        assert_agrees(pred, local)
        assert pred.track_ids is None if len(local) == 0 else list(pred.track_ids) == list(local.track_ids)
    assert any(p.track_ids is not None and (p.track_ids > 0).any() for p in preds)


def test_the_final_result_of_a_tracked_video_is_its_video_annotation(open_server):
    """``get_inference_result`` answers ``video_ann`` (what Supervisely's apps read from ``session.final_result``):
    a VideoAnnotation with one object per track and, per frame, a figure per tracked object."""
    from supervisely import VideoAnnotation

    m = model_api(open_server)
    with m.predict_detached(input=VIDEO, stride=10, tracking=True) as session:
        preds = list(session)
    ann = VideoAnnotation.from_json(session.final_result["video_ann"], project_meta=m.get_model_meta())
    assert ann.frames_count == 72 and (ann.img_size) == (360, 480)
    tracked = {p.frame_index: sorted((int(t), c) for t, c in zip(p.track_ids, p.classes) if t >= 0)
               for p in preds if p.track_ids is not None}
    key_of = {}  # track id -> the annotation's object (one per track, the same on every frame)
    for frame in ann.frames:
        got = sorted((int(f.track_id), f.video_object.obj_class.name) for f in frame.figures)
        assert got == tracked.get(frame.index, []), frame.index
        for f in frame.figures:
            assert key_of.setdefault(f.track_id, f.video_object.key()) == f.video_object.key()
    assert sum(len(t) for t in tracked.values()) == sum(len(f.figures) for f in ann.frames) > 0
    assert len(ann.objects) == len({t for frame in tracked.values() for t, _ in frame})


def test_video_frame_range(open_server):
    preds = model_api(open_server).predict(input=VIDEO, start_frame=5, end_frame=26, stride=10, show_progress=False)
    assert [p.frame_index for p in preds] == [5, 15, 25]  # end_frame is exclusive, as in sightline


def test_predict_detached_and_stop(open_server):
    session = model_api(open_server).predict_detached(input=VIDEO, stride=1)
    uuid = session.inference_request_uuid
    first = next(session)
    assert first.frame_index == 0
    session.stop()
    status = httpx.get(f"{open_server.url}/v1/sessions/{uuid}").json()
    assert status["state"] in ("stopped", "completed") and status["done"] <= status["total"]
    assert status["state"] == "stopped" and status["done"] < status["total"]
    # sightline kept every result the client popped, and more
    assert len(httpx.get(f"{open_server.url}/v1/sessions/{uuid}/results", params={"limit": 1000}).json()["results"]) == status["done"]


def test_pop_gives_each_result_once(open_server, tmp_path):
    for i in (1, 2, 3, 4):  # a folder: supervisely 6.74.51 fails on a list of paths before sending it
        shutil.copy(SAMPLES_DIR / f"shapes_{i}.jpg", tmp_path)
    session = model_api(open_server).predict_detached(input=str(tmp_path))
    names = [p.name for p in session]
    assert sorted(names) == ["shapes_1.jpg", "shapes_2.jpg", "shapes_3.jpg", "shapes_4.jpg"] and len(set(names)) == 4


def test_pop_reads_results_that_left_memory(tmp_path):
    """A server keeping 2 results in memory per session: the client still pops all 4, each once."""
    for i in (1, 2, 3, 4):
        shutil.copy(SAMPLES_DIR / f"shapes_{i}.jpg", tmp_path)
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None, session_memory_results=2), model=load_model("demo/shapes", "cpu"))).start()
    try:
        session = model_api(live).predict_detached(input=str(tmp_path))
        uuid = session.inference_request_uuid
        httpx.get(f"{live.url}/v1/sessions/{uuid}/results", params={"wait": 30, "after": 3}, timeout=60)  # all 4 done before the first pop
        names = [p.name for p in session]
    finally:
        live.stop()
    assert sorted(names) == ["shapes_1.jpg", "shapes_2.jpg", "shapes_3.jpg", "shapes_4.jpg"]  # the client lists the folder unsorted


@pytest.fixture(scope="module")
def workspace_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    ws = sightline.Workspace(tmp_path_factory.mktemp("ws"))
    project_id = seed_demo(ws)
    app = create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)
    live = LiveServer(app).start()
    yield live, ws, project_id
    live.stop()


def test_workspace_ids_with_iou_merge(workspace_server, local_model):
    server, ws, project_id = workspace_server
    images = ws.images(project_id=project_id)[:2]
    m = model_api(server)
    preds = m.predict(image_id=[i.id for i in images], upload_mode="iou_merge", show_progress=False)
    assert [p.image_id for p in preds] == [i.id for i in images]
    for pred, img in zip(preds, images):
        (local,) = local_model.predict(ws.read_image(img.id))
        assert_agrees(pred, local)
        assert len(ws.annotations(img.id)) >= len(local)
    before = [len(ws.annotations(i.id)) for i in images]
    m.predict(project_id=project_id, upload_mode="iou_merge", iou_merge_threshold=0.5, show_progress=False)
    assert [len(ws.annotations(i.id)) for i in images] == before  # merged: no duplicates of what the first run added
    (video,) = [v for d in ws.datasets(project_id) for v in ws.videos(d.id)]
    frames = m.predict(video_id=video.id, stride=20, tracking=True, show_progress=False)
    assert [p.frame_index for p in frames][:2] == [0, 20] and all(p.video_id == video.id for p in frames)


def test_api_key(keyed_server):
    with pytest.raises(requests.HTTPError) as caught:
        model_api(keyed_server).get_classes()
    assert caught.value.response.status_code == 401
    body = caught.value.response.json()
    assert body["success"] is False and "API key" in body["message"] and body["exception"]["type"] == "AuthenticationError"
    m = model_api(keyed_server, KEY)  # requests sends the URL's user:password as Basic auth
    assert m.get_classes() == ["circle", "square", "triangle"]
    assert len(m.predict(input=str(SAMPLES_DIR / "shapes_1.jpg"), show_progress=False)) == 1
    r = httpx.post(keyed_server.url + "/supervisely/get_model_meta", json={"state": {}, "api_token": KEY})
    assert r.status_code == 200


@pytest.mark.parametrize(("method", "body", "status", "words"), [
    ("pop_inference_results", {"state": {}}, 400, "inference_request_uuid is required"),
    ("get_inference_progress", {"state": {"inference_request_uuid": "nope"}}, 404, "no session 'nope'"),
    ("no_such_method", {"state": {}}, 404, "method 'no_such_method' is not served"),
    ("inference_batch_ids_async", {"state": {"images_ids": [1]}}, 400, "workspace IDs need a workspace"),
    ("inference_video_id_async", {"state": {"video_id": 1, "direction": "backward"}}, 422, "direction 'backward' is not supported"),
    ("inference_batch_ids_async", {"state": {"images_ids": [1], "settings": {"conf": 2}}}, 422, "conf must be between 0 and 1"),
    ("inference_batch_ids_async", {"state": {"images_ids": [1], "output_project_id": 3}}, 422, "output_project_id is not supported"),
    ("inference_batch_async", {"state": {}}, 400, "at least one file"),
    ("get_model_meta", {"state": "x"}, 400, "'state' must be a JSON object"),
])
def test_bad_requests_get_the_layer_error_shape(open_server, method, body, status, words):
    r = httpx.post(f"{open_server.url}/supervisely/{method}", json=body, timeout=60)
    assert r.status_code == status, r.text
    answer = r.json()
    assert answer["success"] is False and words in answer["message"]
    assert answer["exception"]["message"] == answer["message"] and "File \"" not in answer["exception"]["traceback"]


def test_ignored_settings_are_named_and_bad_files_fail_alone(open_server, tmp_path):
    shutil.copy(SAMPLES_DIR / "shapes_1.jpg", tmp_path / "good.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    files = [("files", ("good.jpg", (tmp_path / "good.jpg").read_bytes())), ("files", ("bad.jpg", b"not an image"))]
    state = '{"settings": {"conf": 0.5, "half": true, "show_progress": false}}'
    r = httpx.post(f"{open_server.url}/supervisely/inference_batch_async", files=files, data={"state": state}, timeout=60)
    assert r.status_code == 200 and r.json()["ignored_settings"] == ["half"]
    uuid = r.json()["inference_request_uuid"]
    results: list = []
    for _ in range(100):
        answer = httpx.post(f"{open_server.url}/supervisely/pop_inference_results", json={"state": {"inference_request_uuid": uuid}}).json()
        results += answer["pending_results"]
        if answer["finished"]:
            break
    good, bad = results
    assert good["error"] is None and good["annotation"]["objects"] and good["name"] == "good.jpg"
    assert "not an image" in bad["error"] and bad["annotation"]["objects"] == []
    again = httpx.post(f"{open_server.url}/supervisely/pop_inference_results", json={"state": {"inference_request_uuid": uuid}}).json()
    assert again["pending_results"] == [] and again["finished"] is True  # popped once
