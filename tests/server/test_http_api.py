"""The REST API spoken directly with httpx: every resource, every error status, JSON errors."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time

import httpx
import numpy as np

from sightline.geometry import rle_to_mask


def _files(*paths):
    return [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]


def _error(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status and needle in body["message"], body


def test_health_ready_info(server):
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/ready").json()["models"] == ["demo/shapes"]
    info = httpx.get(f"{server.url}/v1/info").json()
    assert info["api_version"] == "v1" and info["default_model"] == "demo/shapes"
    assert {"torch", "torchvision", "supervision", "python"} <= set(info["versions"])
    assert info["limits"]["max_batch_size"] == 8 and info["auth_required"] is False
    model = httpx.get(f"{server.url}/v1/models/info").json()
    assert model["task"] == "instance_segmentation" and [c["name"] for c in model["classes"]] == ["circle", "square", "triangle"]
    assert all(c["color"].startswith("#") for c in model["classes"]) and model["default_settings"]["conf"] == 0.5


def test_openapi_documents_the_api(server):
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for p in ("/v1/predict", "/v1/sessions", "/v1/sessions/{sid}/results", "/v1/sessions/{sid}/events", "/v1/models/load"):
        assert p in paths


def test_sync_predict_multipart_base64_and_url(server, sample_dir, file_server, demo_model):
    local = demo_model.predict(input=sample_dir / "img_00.png")[0]
    r = httpx.post(f"{server.url}/v1/predict", files=_files(sample_dir / "img_00.png"), timeout=60)
    (pred,) = r.json()["predictions"]
    assert pred["source"] == "img_00.png" and pred["classes"] == local.classes
    np.testing.assert_allclose(pred["boxes"], local.boxes, atol=0.05)
    mask = rle_to_mask(pred["masks"][0])  # masks travel as COCO RLE
    assert (mask == local.masks[0]).all()
    data = base64.b64encode((sample_dir / "img_01.png").read_bytes()).decode()
    r = httpx.post(f"{server.url}/v1/predict", json={"images": [{"data": data}], "urls": [f"{file_server}/img_02.png"], "settings": {"conf": 0.9}}, timeout=60)
    preds = r.json()["predictions"]
    assert [p["source"] for p in preds] == ["images[0]", f"{file_server}/img_02.png"]
    assert all(s >= 0.9 for p in preds for s in p["scores"])


def test_sync_predict_bad_item_fails_alone(server, sample_dir):
    files = _files(sample_dir / "img_00.png") + [("files", ("junk.jpg", b"not an image", "image/jpeg"))]
    preds = httpx.post(f"{server.url}/v1/predict", files=files, timeout=60).json()["predictions"]
    assert preds[0]["error"] is None and preds[1]["error"].startswith("not an image")


def test_error_statuses(server, sample_dir):
    u = server.url
    _error(httpx.post(f"{u}/v1/predict", json={"images": [{"data": "@@@"}]}), 400, "not valid base64")
    _error(httpx.post(f"{u}/v1/predict", json={}), 400, "nothing to predict")
    _error(httpx.post(f"{u}/v1/predict", content=b"{oops", headers={"content-type": "application/json"}), 400, "not valid JSON")
    _error(httpx.post(f"{u}/v1/predict", json={"urls": ["x"], "settings": {"conf": 3}}), 422, "conf must be between 0 and 1")
    _error(httpx.post(f"{u}/v1/predict", json={"urls": ["x"], "settings": {"cnf": 0.3}}), 422, "did you mean 'conf'")
    _error(httpx.post(f"{u}/v1/predict", json={"urls": ["x"], "model": "nope"}), 404, "model 'nope' is not loaded")
    _error(httpx.get(f"{u}/v1/sessions/doesnotexist"), 404, "no session 'doesnotexist'")
    _error(httpx.get(f"{u}/v1/nothing/here"), 404, "no route GET /v1/nothing/here")
    _error(httpx.post(f"{u}/v1/models/load", json={"model": "/etc/passwd"}), 400, "model '/etc/passwd' is not available on this server")
    _error(httpx.post(f"{u}/v1/models/load", json={"modle": "x"}), 422, "invalid request")
    sid = httpx.post(f"{u}/v1/sessions", json={"total": 1}).json()["id"]
    httpx.post(f"{u}/v1/sessions/{sid}/close")
    _error(httpx.post(f"{u}/v1/sessions/{sid}/items", json={"urls": ["http://example.com/a.png"]}), 409, "input is closed")
    _error(httpx.post(f"{u}/v1/sessions", json={"total": 1, "options": {"stride": 0}}), 422, "stride must be at least 1")


def test_request_size_limit(start_server, sample_dir):
    live = start_server(max_request_bytes=10_000)
    big = ("files", ("big.png", b"x" * 20_000, "image/png"))
    _error(httpx.post(f"{live.url}/v1/predict", files=[big]), 413, "over the limit of 10,000")


def test_file_and_pixel_limits(start_server, sample_dir):
    live = start_server(max_file_bytes=1000, max_image_pixels=1000)
    _error(httpx.post(f"{live.url}/v1/predict", files=_files(sample_dir / "img_00.png")), 413, "over the limit of 1,000")
    live2 = start_server(max_image_pixels=1000)
    (pred,) = httpx.post(f"{live2.url}/v1/predict", files=_files(sample_dir / "img_00.png"), timeout=30).json()["predictions"]
    assert "pixels, over the limit of 1,000" in pred["error"]
    # the same limit holds for images sent into a session
    sid = httpx.post(f"{live2.url}/v1/sessions", json={"total": 1}).json()["id"]
    httpx.post(f"{live2.url}/v1/sessions/{sid}/items", files=_files(sample_dir / "img_00.png"), data={"close": "true"}, timeout=30)
    page = httpx.get(f"{live2.url}/v1/sessions/{sid}/results", params={"wait": 20}, timeout=30).json()
    assert "pixels, over the limit of 1,000" in page["results"][0]["error"]


def test_api_key(start_server):
    live = start_server(api_key="s3cret")
    assert httpx.get(f"{live.url}/health").status_code == 200  # liveness stays open for orchestrators
    r = httpx.get(f"{live.url}/v1/info")
    _error(r, 401, "missing or wrong API key")
    assert r.headers["www-authenticate"] == "Bearer"
    _error(httpx.get(f"{live.url}/v1/info", headers={"Authorization": "Bearer wrong"}), 401, "wrong API key")
    assert httpx.get(f"{live.url}/v1/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_session_limit(start_server):
    live = start_server(max_sessions=2)
    for _ in range(2):
        assert httpx.post(f"{live.url}/v1/sessions", json={"total": 5}).status_code == 201
    _error(httpx.post(f"{live.url}/v1/sessions", json={"total": 5}), 429, "the server's limit is 2")


def test_no_model_is_503(start_server):
    live = start_server()
    httpx.post(f"{live.url}/v1/models/unload_all")
    _error(httpx.get(f"{live.url}/ready"), 503, "no model is loaded")


def test_private_urls_refused_by_default(start_server, file_server):
    live = start_server(allow_private_urls=False)
    (pred,) = httpx.post(f"{live.url}/v1/predict", json={"urls": [f"{file_server}/img_00.png"]}).json()["predictions"]
    assert "private or loopback address" in pred["error"]
    (pred,) = httpx.post(f"{live.url}/v1/predict", json={"urls": ["file:///etc/passwd"]}).json()["predictions"]
    assert "must be an absolute http:// or https:// URL" in pred["error"]


def test_session_results_by_cursor_are_not_drained(any_server, sample_dir):
    u = any_server.url
    sid = httpx.post(f"{u}/v1/sessions", json={"total": 4, "settings": {"batch_size": 2}}).json()["id"]
    files = _files(*(sample_dir / f"img_{i:02d}.png" for i in range(4)))
    meta = json.dumps([{"source": f"/client/side/{i}.png", "image_path": f"/client/side/{i}.png"} for i in range(4)])
    httpx.post(f"{u}/v1/sessions/{sid}/items", files=files, data={"meta": meta, "close": "true"}, timeout=30)
    page = httpx.get(f"{u}/v1/sessions/{sid}/results", params={"after": 0, "limit": 2, "wait": 20}, timeout=30).json()
    deadline = time.monotonic() + 30
    while httpx.get(f"{u}/v1/sessions/{sid}").json()["state"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first = httpx.get(f"{u}/v1/sessions/{sid}/results", params={"after": 0, "limit": 3}).json()
    again = httpx.get(f"{u}/v1/sessions/{sid}/results", params={"after": 0, "limit": 3}).json()
    assert first["results"] == again["results"] and first["next"] == 3
    rest = httpx.get(f"{u}/v1/sessions/{sid}/results", params={"after": 3}).json()
    assert [r["index"] for r in rest["results"]] == [3] and rest["status"]["done"] == 4
    # the client's names come back as metadata; the server never used them as paths
    assert [r["image_path"] for r in first["results"]] == [f"/client/side/{i}.png" for i in range(3)]
    assert len(page["results"]) >= 1
    assert httpx.delete(f"{u}/v1/sessions/{sid}").status_code == 204
    assert httpx.get(f"{u}/v1/sessions/{sid}").status_code == 404


def test_sse_stream_gives_results_then_end(any_server, sample_dir):
    u = any_server.url
    sid = httpx.post(f"{u}/v1/sessions", json={"total": 3}).json()["id"]
    httpx.post(f"{u}/v1/sessions/{sid}/items", files=_files(*(sample_dir / f"img_{i:02d}.png" for i in range(3))), data={"close": "true"})
    events = []
    with httpx.stream("GET", f"{u}/v1/sessions/{sid}/events", timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(": ", 1)[1]
            elif line.startswith("id:"):
                events.append(("id", int(line.split(": ", 1)[1])))
            elif line.startswith("data:"):
                events.append((kind, json.loads(line[6:])))
    results = [d for k, d in events if k == "result"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert [d for k, d in events if k == "id"] == [1, 2, 3]
    assert events[-1][0] == "end" and events[-1][1]["state"] == "completed"
    # resuming after the second result with Last-Event-ID replays only the third
    with httpx.stream("GET", f"{u}/v1/sessions/{sid}/events", headers={"Last-Event-ID": "2"}, timeout=60) as r:
        replay = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data:") and '"index"' in line and '"boxes"' in line]
    assert [d["index"] for d in replay] == [2]


class _CallbackCatcher(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append((self.headers.get("authorization"), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_callback_url_called_with_basic_auth_when_session_ends(server, file_server):
    catcher = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CallbackCatcher)
    threading.Thread(target=catcher.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{catcher.server_address[1]}/done"
    body = {"urls": [f"{file_server}/img_00.png"], "callback": {"url": url, "username": "bot", "password": "pw"}}
    sid = httpx.post(f"{server.url}/v1/sessions", json=body).json()["id"]
    deadline = time.monotonic() + 30
    while not _CallbackCatcher.received:
        assert time.monotonic() < deadline, "callback never came"
        time.sleep(0.05)
    auth, payload = _CallbackCatcher.received[0]
    assert auth == "Basic " + base64.b64encode(b"bot:pw").decode()
    assert payload["session_id"] == sid and payload["state"] == "completed" and payload["done"] == 1
    catcher.shutdown()


def test_models_load_unload(start_server):
    live = start_server()
    u = live.url
    listed = httpx.get(f"{u}/v1/models").json()
    assert [m["name"] for m in listed["loaded"]] == ["demo/shapes"]
    assert "torchvision/maskrcnn_resnet50_fpn" in [m["name"] for m in listed["available"]]
    assert httpx.post(f"{u}/v1/models/unload", json={"model": "demo/shapes"}).json() == {"unloaded": ["demo/shapes"]}
    _error(httpx.get(f"{u}/v1/models/info"), 404, "is not loaded")
    info = httpx.post(f"{u}/v1/models/load", json={"model": "demo/shapes", "device": "cpu"}, timeout=60).json()
    assert info["name"] == "demo/shapes"
    _error(httpx.post(f"{u}/v1/models/unload", json={"model": "other"}), 404, "'other' is not loaded")
    _error(httpx.post(f"{u}/v1/models/load", json={"model": "torchvision/resnet50"}), 400, "is not available on this server")
