"""Roboflow's ``inference_sdk.InferenceHTTPClient``, unchanged, against ``/roboflow`` on a live sightline server."""

from __future__ import annotations

import base64
import io
import pickle

import cv2
import httpx
import numpy as np
import pytest
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
from inference_sdk.http.errors import HTTPCallErrorError
from PIL import Image

from sightline.paths import SAMPLES_DIR
from tests.compat.conftest import KEY

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
MODEL = "demo/shapes"


def client(server, key: str = "any", **config) -> InferenceHTTPClient:  # type: ignore[no-untyped-def]
    c = InferenceHTTPClient(api_url=server.url + "/roboflow", api_key=key)
    if config:
        c.configure(InferenceConfiguration(**config))
    return c


def xyxy(pred: dict) -> np.ndarray:
    return np.array([[p["x"] - p["width"] / 2, p["y"] - p["height"] / 2, p["x"] + p["width"] / 2, p["y"] + p["height"] / 2]
                     for p in pred["predictions"]]).reshape(-1, 4)


def assert_agrees(answer: dict, local, atol: float = 1.0) -> None:  # type: ignore[no-untyped-def]
    """Same objects, classes and boxes (to a pixel) as ``sightline.load`` on the same image."""
    assert [p["class"] for p in answer["predictions"]] == local.classes
    assert np.allclose(xyxy(answer), local.boxes, atol=atol)
    assert answer["image"] == {"width": local.image_size[1], "height": local.image_size[0]}


def test_server_info_and_registry(open_server):
    c = client(open_server)
    info = c.get_server_info()
    assert info.name == "sightline" and info.version and info.uuid
    (model,) = c.list_loaded_models().models
    assert (model.model_id, model.task_type, model.input_height, model.input_width) == (MODEL, "instance-segmentation", 320, 512)


def test_infer_one_image_matches_sightline(open_server, local_model, sample_images):
    c = client(open_server, client_downsizing_disabled=True)
    answer = c.infer(sample_images[0], model_id=MODEL)
    (local,) = local_model.predict(sample_images[0])
    assert answer["inference_id"] and answer["time"] >= 0 and len(answer["predictions"]) == len(local) > 0
    assert_agrees(answer, local)
    first = answer["predictions"][0]
    assert set(first) >= {"x", "y", "width", "height", "confidence", "class", "class_id", "detection_id", "points"}
    assert first["class_id"] == local_model.classes.index(first["class"])
    # the outline lies on the mask sightline found
    mask = local.masks[0]
    inside = [mask[int(p["y"]), int(p["x"])] for p in first["points"]]
    assert len(first["points"]) > 8 and np.mean(inside) > 0.9


def test_list_comes_back_in_order_with_settings(open_server, local_model, sample_images):
    c = client(open_server, client_downsizing_disabled=True, confidence_threshold=0.9, class_filter=["circle", "square"], max_batch_size=2)
    answers = c.infer(sample_images, model_id=MODEL)
    assert isinstance(answers, list) and len(answers) == 2
    for answer, path in zip(answers, sample_images):
        (local,) = local_model.predict(path, conf=0.9, classes=["circle", "square"])
        assert_agrees(answer, local)
        assert all(p["class"] in ("circle", "square") and p["confidence"] >= 0.9 for p in answer["predictions"])


def test_numpy_array_is_read_as_bgr(open_server, local_model, sample_images):
    rgb = np.asarray(Image.open(sample_images[1]).convert("RGB"))
    c = client(open_server, client_downsizing_disabled=True)
    answer = c.infer(rgb[..., ::-1].copy(), model_id=MODEL)  # the client's convention: OpenCV's BGR
    (local,) = local_model.predict(rgb)
    assert [p["class"] for p in answer["predictions"]] == local.classes  # colours right: JPEG on the way, so boxes ±2 px
    assert np.allclose(xyxy(answer), local.boxes, atol=3)


def test_numpy_type_on_the_wire(open_server, local_model, sample_images):
    """Raw ``{"type": "numpy"}``: ``.npy`` bytes and a plain pickled array work; a pickle that builds anything else is refused."""
    rgb = np.asarray(Image.open(sample_images[0]).convert("RGB"))
    (local,) = local_model.predict(rgb)
    npy = io.BytesIO()
    np.save(npy, rgb[..., ::-1])
    for payload in (npy.getvalue(), pickle.dumps(np.ascontiguousarray(rgb[..., ::-1]))):
        r = httpx.post(open_server.url + "/roboflow/infer/instance_segmentation",
                       json={"model_id": MODEL, "image": {"type": "numpy", "value": base64.b64encode(payload).decode()}}, timeout=60)
        assert r.status_code == 200, r.text
        assert_agrees(r.json(), local, atol=0.01)

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    r = httpx.post(open_server.url + "/roboflow/infer/instance_segmentation",
                   json={"model_id": MODEL, "image": {"type": "numpy", "value": base64.b64encode(pickle.dumps(Evil())).decode()}}, timeout=60)
    assert r.status_code == 400 and "builtins.print" in r.json()["message"]


def test_url_image(open_server, local_model, file_server, sample_dir):
    c = client(open_server, client_downsizing_disabled=True)
    answer = c.infer(f"{file_server}/img_00.png", model_id=MODEL)  # the client downloads it and sends base64
    (local,) = local_model.predict(str(sample_dir / "img_00.png"))
    assert_agrees(answer, local)
    r = httpx.post(open_server.url + "/roboflow/infer/object_detection",  # a URL the server fetches itself
                   json={"model_id": MODEL, "image": {"type": "url", "value": f"{file_server}/img_00.png"}}, timeout=60)
    assert r.status_code == 200 and "points" not in r.json()["predictions"][0]
    assert np.allclose(xyxy(r.json()), local.boxes, atol=0.01)


def test_private_url_refused_on_a_public_server(keyed_server, file_server):
    r = httpx.post(keyed_server.url + "/roboflow/infer/object_detection", params={"api_key": KEY},
                   json={"model_id": MODEL, "image": {"type": "url", "value": f"{file_server}/img_00.png"}}, timeout=60)
    assert r.status_code == 400 and "private or loopback" in r.json()["message"]


def test_client_downsizing_gives_full_size_boxes(open_server, local_model):
    big = cv2.resize(cv2.imread(str(SAMPLES_DIR / "shapes_1.jpg")), (1920, 1440), interpolation=cv2.INTER_LINEAR)
    (local,) = local_model.predict(big[..., ::-1].copy())
    answer = client(open_server).infer(big, model_id=MODEL)  # the client shrinks it to the model's 320×512
    assert answer["image"] == {"width": 1920, "height": 1440}
    assert [p["class"] for p in answer["predictions"]] == local.classes
    assert np.allclose(xyxy(answer), local.boxes, atol=12)  # a 3.75× smaller image: a few pixels of it


def test_infer_on_stream_over_the_video(open_server):
    c = client(open_server)
    frames = []
    for frame_id, frame, answer in c.infer_on_stream(str(SAMPLES_DIR / "moving_shapes.mp4"), model_id=MODEL):
        frames.append((frame_id, frame.shape, len(answer["predictions"])))
        if len(frames) == 3:
            break
    assert [f[0] for f in frames] == [0, 1, 2] and all(n > 0 for _, _, n in frames)


def test_load_unload_clear(start_server):
    server = start_server()
    c = client(server)
    assert [m.model_id for m in c.unload_model(MODEL).models] == []
    with pytest.raises(HTTPCallErrorError) as caught:
        c.unload_model(MODEL)
    assert caught.value.status_code == 404 and "not loaded" in caught.value.api_message
    assert [m.model_id for m in c.load_model(MODEL).models] == [MODEL]
    assert c.infer(str(SAMPLES_DIR / "shapes_1.jpg"), model_id=MODEL)["predictions"]
    assert c.unload_all_models().models == []
    # infer on a model that is not loaded: the client loads it first (as with Roboflow's server)
    assert c.infer(str(SAMPLES_DIR / "shapes_1.jpg"), model_id=MODEL)["predictions"]
    with pytest.raises(HTTPCallErrorError) as caught:
        c.load_model("/etc/passwd")
    assert caught.value.status_code == 400 and "is not available on this server" in caught.value.api_message


def test_api_key_in_query_body_or_header(keyed_server, sample_images):
    assert client(keyed_server).get_server_info().name == "sightline"  # public, like Roboflow's
    with pytest.raises(HTTPCallErrorError) as caught:
        client(keyed_server, key="wrong").infer(sample_images[0], model_id=MODEL)
    assert caught.value.status_code == 401 and "API key" in caught.value.api_message
    assert client(keyed_server, key=KEY).infer(sample_images[0], model_id=MODEL)["predictions"]  # query + body
    assert client(keyed_server, key=KEY, api_key_transport="header").infer(sample_images[0], model_id=MODEL)["predictions"]
    assert client(keyed_server, key=KEY, api_key_transport="header").unload_all_models().models == []


@pytest.mark.parametrize(("body", "words"), [
    ({"model_id": MODEL, "image": {"type": "base64", "value": "%%%"}}, "image.value is not valid base64"),
    ({"model_id": MODEL, "image": {"type": "base64", "value": base64.b64encode(b"not an image").decode()}}, "image: not an image"),
    ({"model_id": MODEL, "image": {"type": "file", "value": "x"}}, "image.type must be"),
    ({"model_id": MODEL}, "image is required"),
    ({"model_id": "no/such", "image": {"type": "url", "value": "http://x"}}, "'no/such' is not loaded"),
    ({"model_id": MODEL, "image": {"type": "url", "value": "http://x"}, "confidence": 2}, "confidence must be between 0 and 1"),
    ({"model_id": MODEL, "image": {"type": "url", "value": "http://x"}, "class_filter": ["dog"]}, "['dog'] are not classes"),
    ({"model_id": MODEL, "image": {"type": "url", "value": "http://x"}, "confidance": 0.5}, "did you mean 'confidence'"),
    ({"model_id": MODEL, "image": {"type": "url", "value": "file:///etc/passwd"}}, "must be an absolute http"),
])
def test_bad_requests_get_a_message(open_server, body, words):
    r = httpx.post(open_server.url + "/roboflow/infer/instance_segmentation", json=body, timeout=60)
    assert 400 <= r.status_code < 500, r.text
    assert words in r.json()["message"]


def test_unknown_route_and_bad_json(open_server):
    r = httpx.get(open_server.url + "/roboflow/nope")
    assert r.status_code == 404 and "/roboflow/nope is not served" in r.json()["message"]
    r = httpx.post(open_server.url + "/roboflow/infer/object_detection", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
