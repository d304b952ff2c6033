"""``predict`` takes the Supervisely Prediction API draft's spellings and Scale Launch's completion callbacks."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time

import pytest

import sightline
from sightline.paths import SAMPLES_DIR
from sightline.workspace.seed import seed_demo

IMAGE = str(SAMPLES_DIR / "shapes_1.jpg")
VIDEO = str(SAMPLES_DIR / "moving_shapes.mp4")


def test_settings_and_video_params_dicts(local_model):
    plain = local_model.predict(IMAGE, conf=0.9, classes=["circle"])
    (spelled,) = local_model.predict(IMAGE, settings={"conf": 0.9, "classes": ["circle"]})
    assert spelled.classes == plain[0].classes and (spelled.boxes == plain[0].boxes).all()
    frames = local_model.predict(VIDEO, video_params={"stride": 20, "start_frame": 5, "tracking": True})
    assert [p.frame_idx for p in frames][:2] == [5, 25] and frames[0].track_ids is not None


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"settings": {"confidence": 0.5}}, sightline.UnknownArgumentError, "unexpected field 'confidence' in predict\\(settings"),
    ({"settings": {"conf": 2}}, sightline.InvalidSettingError, "conf must be between 0 and 1"),
    ({"settings": {"conf": 0.5}, "conf": 0.6}, sightline.InvalidSettingError, "conf is given twice"),
    ({"settings": "conf=0.5"}, sightline.InvalidSettingError, "settings must be a dict"),
    ({"video_params": {"conf": 0.5}}, sightline.UnknownArgumentError, "unexpected field 'conf'"),
    ({"callback_url": "ftp://x"}, sightline.InvalidSettingError, "callback_url must be an http"),
    ({"callback_url": "http://x", "callback_auth_kind": "mtls"}, sightline.InvalidSettingError, "mTLS is not supported"),
    ({"callback_url": "http://x", "callback_auth_kind": "basic"}, sightline.InvalidSettingError, "needs callback_auth_username"),
    ({"callback_auth_kind": "basic"}, sightline.InvalidSettingError, "only apply with callback_url"),
])
def test_bad_spellings_are_clear_errors(local_model, kwargs, error, words):
    with pytest.raises(error, match=words):
        local_model.predict(IMAGE, **kwargs)


def test_image_id(tmp_path):
    ws = sightline.Workspace(tmp_path / "ws")
    project_id = seed_demo(ws)
    first = ws.images(project_id=project_id)[0]
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    (pred,) = model.predict(image_id=first.id)
    assert pred.image_id == first.id and len(pred) > 0


@pytest.fixture()
def callback_receiver():  # type: ignore[no-untyped-def]
    got: list[tuple[str | None, dict]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            got.append((self.headers.get("authorization"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/done", got
    server.shutdown()


def wait_for(got: list, n: int = 1) -> None:
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("where", ["local", "remote"])
def test_completion_callback_with_basic_auth(where, local_model, open_server, callback_receiver):
    url, got = callback_receiver
    model = local_model if where == "local" else sightline.connect(open_server.url)
    session = model.predict_detached(IMAGE, callback_url=url, callback_auth_kind="basic",
                                     callback_auth_username="me", callback_auth_password="secret")
    assert len(list(session)) == 1
    wait_for(got)
    ((auth, body),) = got
    assert auth == "Basic " + base64.b64encode(b"me:secret").decode()
    assert body["state"] == "completed" and body["done"] == 1
    if where == "remote":
        assert body["results"] == f"/v1/sessions/{body['session_id']}/results"
