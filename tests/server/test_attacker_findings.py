"""What an independent attacker found against a public server (issue 10): each answers in words, never a 500 or a hang."""

from __future__ import annotations

import io
import json
import logging
import random
import socket
import string
import struct
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.servers import LiveServer


def _png(sample_dir) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", ("good.png", (sample_dir / "img_00.png").read_bytes(), "image/png"))


def _truncated_tiff() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "TIFF")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


BAD_IMAGES = {
    "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nnewpath 0 0 moveto showpage\n",
    "qoi": b"qoif" + struct.pack(">II", 4, 4) + bytes([3, 0]) + bytes([0xFE, 1, 2]) * 3 + b"\xff" * 7,
    "dds": b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 16, 0, 0) + b"\x00" * 44 + struct.pack("<2I", 32, 4) + b"DX10" + b"\x07" * 60,
    "spider": struct.pack(">27f", *([1.0] * 4 + [1.0] + [0.0] * 6 + [1.0, 1.0] + [0.0] * 14)) + b"\x00" * 16,
    "truncated_tiff": _truncated_tiff(),
}


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_unreadable_image_fails_alone_in_a_multipart_predict(server, sample_dir, kind):
    files = [_png(sample_dir), ("files", (f"bad.{kind}", BAD_IMAGES[kind], "application/octet-stream"))]
    r = httpx.post(f"{server.url}/v1/predict", files=files, timeout=60)
    assert r.status_code == 200, r.text[:500]
    good, bad = r.json()["predictions"]
    assert good["error"] is None and good["boxes"]
    assert bad["error"] and ("not an image" in bad["error"] or "corrupt" in bad["error"]), bad["error"]


DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_json_body_is_400(server):
    for route in ("/v1/predict", "/v1/sessions", "/roboflow/infer/object_detection", "/supervisely/inference"):
        r = httpx.post(server.url + route, content=DEEP, headers={"content-type": "application/json"}, timeout=60)
        assert r.status_code == 400, (route, r.status_code, r.text[:300])
        assert "too deeply nested" in r.text  # the compat layers answer in their vendor's shape


@pytest.mark.parametrize("field", ["meta", "settings"])
def test_deeply_nested_multipart_field_is_400_naming_it(server, sample_dir, field):
    r = httpx.post(f"{server.url}/v1/predict", files=[_png(sample_dir)], data={field: DEEP}, timeout=60)
    assert r.status_code == 400, r.text[:300]
    message = r.json()["error"]["message"]
    assert "too deeply nested" in message and field in message


@pytest.mark.parametrize("value", [b"9" * 5000, b"\xb2", b"99999999999999999999", b"-1", b"3a"])
def test_bad_last_event_id_is_422(server, value):
    sid = httpx.post(f"{server.url}/v1/sessions", json={"total": 0, "close": True}).json()["id"]
    r = httpx.get(f"{server.url}/v1/sessions/{sid}/events", headers={"Last-Event-ID": value}, timeout=30)
    assert r.status_code == 422, r.text[:300]
    assert "Last-Event-ID" in r.json()["error"]["message"]


def test_good_last_event_id_still_resumes(server):
    sid = httpx.post(f"{server.url}/v1/sessions", json={"total": 0, "close": True}).json()["id"]
    with httpx.stream("GET", f"{server.url}/v1/sessions/{sid}/events", headers={"Last-Event-ID": "0"}, timeout=30) as r:
        assert r.status_code == 200
        assert "event: end" in r.read().decode()


def _big_video(path, size: int = 8000, frames: int = 2) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=1)
        stream.width = stream.height = size
        stream.pix_fmt = "gray"
        black = np.zeros((size, size), dtype=np.uint8)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(black, format="gray")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def big_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "big.mov"
    _big_video(path)
    return path


def test_video_over_the_pixel_limit_is_refused_on_the_items_route(server, big_video):
    sid = httpx.post(f"{server.url}/v1/sessions", json={"total": 10}).json()["id"]
    files = [("files", ("big.mov", big_video.read_bytes(), "video/quicktime"))]
    r = httpx.post(f"{server.url}/v1/sessions/{sid}/items", files=files, timeout=60)
    assert r.status_code in (400, 413), r.text[:300]
    message = r.json()["error"]["message"]
    assert "big.mov" in message and "over the limit" in message


def test_video_over_the_pixel_limit_is_refused_when_probed(big_video):
    from sightline.errors import InputError
    from sightline.video.probe import probe_video

    with pytest.raises(InputError, match=r"'big.mov'.*8000×8000.*over the limit of 10,000"):
        probe_video(big_video, max_pixels=10_000)


@pytest.mark.parametrize("damage", ["utf8", "nosize"])
def test_damaged_video_is_refused_in_words(server, sample_video, damage, monkeypatch):
    """Probing errors PyAV raises besides its own (seen with mutated mp4s) are refusals, not 500s."""

    def broken(*args, **kwargs):
        if damage == "utf8":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        raise AttributeError("'NoneType' object has no attribute 'width'")

    import av

    monkeypatch.setattr(av, "open", broken)  # probe imports PyAV when it probes
    sid = httpx.post(f"{server.url}/v1/sessions", json={"total": 1000}).json()["id"]
    files = [("files", ("clip.mp4", sample_video.read_bytes(), "video/mp4"))]
    r = httpx.post(f"{server.url}/v1/sessions/{sid}/items", files=files, timeout=60)
    assert r.status_code == 400, r.text[:300]
    assert "'clip.mp4' could not be read as a video" in r.json()["error"]["message"]


class _Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_client_that_disconnects_mid_body_is_no_500(server, sample_dir):
    logs = _Logs()
    loggers = [logging.getLogger(name) for name in ("sightline.server", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(logs)
    try:
        for route in ("/v1/predict", "/v1/sessions", "/v1/uploads", "/roboflow/infer/object_detection"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                head = (f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 100000\r\n\r\n")
                s.sendall(head.encode() + b'{"urls": [')
                time.sleep(0.3)
        time.sleep(1.0)
        assert httpx.get(f"{server.url}/health").status_code == 200
    finally:
        for logger in loggers:
            logger.removeHandler(logs)
    errors = [r for r in logs.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_random_method_names_add_few_metric_series(server):
    def series() -> int:
        text = httpx.get(f"{server.url}/metrics").text
        return sum(1 for line in text.splitlines() if line.startswith("sightline_http_requests_total"))

    before = series()
    rng = random.Random(1)
    with httpx.Client(base_url=server.url) as http:
        for _ in range(50):
            method = "X" + "".join(rng.choices(string.ascii_uppercase, k=40))
            http.request(method, "/health")
            http.request(method, f"/nothing/{rng.random()}")
    assert series() - before <= 5
    # an HTTP parser may refuse an unknown method before the app sees it (httptools does, h11 does not): the
    # app's own labels for one that reaches it, sent straight to the app
    from starlette.testclient import TestClient

    TestClient(server.app).request("XUNKNOWNMETHOD", f"/nothing/{rng.random()}")
    text = httpx.get(f"{server.url}/metrics").text
    assert 'method="OTHER"' in text and "/nothing/" not in text  # a path no route matches is labelled by a fixed value


# --- workspace uploads -------------------------------------------------------------------------


@pytest.fixture()
def ws_live(tmp_path):
    import sightline
    from sightline.models.zoo import load_model
    from sightline.server import ServerConfig, create_app

    ws = sightline.Workspace(tmp_path / "ws")
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    yield live, ws
    live.stop()


PRED = {"image_size": [48, 64], "boxes": [], "source": "a.png"}


@pytest.mark.parametrize("content", [b"just text", b"", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_upload_create_with_a_file_that_is_not_an_image(ws_live, content):
    live, ws = ws_live
    before = len(ws.projects())
    request = {"mode": "create", "predictions": [PRED], "project": "attack"}
    files = [("files", ("a.png", content, "image/png"))]
    r = httpx.post(f"{live.url}/v1/uploads", data={"request": json.dumps(request)}, files=files, timeout=60)
    assert r.status_code in (400, 422), r.text[:300]
    message = r.json()["error"]["message"]
    assert "a.png" in message or "predictions[0]" in message or "files[0]" in message, message
    assert "image" in message, message
    assert len(ws.projects()) == before  # nothing stored: no empty project left behind


def test_upload_with_huge_rle_counts_is_422_quickly(ws_live):
    live, _ = ws_live
    pred = {"image_size": [48, 64], "boxes": [[0, 0, 10, 10]], "classes": ["a"], "masks": [{"size": [48, 64], "counts": "a" * 3_000_000}]}
    r = httpx.post(f"{live.url}/v1/uploads", json={"mode": "create", "predictions": [pred], "dry_run": True}, timeout=30)
    assert r.status_code == 422, r.text[:300]
    assert "masks[0].counts" in r.json()["error"]["message"]


def test_upload_with_too_many_mask_pixels_is_refused(ws_live):
    live, _ = ws_live
    n = 20
    empty = {"size": [7000, 7000], "counts": [49_000_000]}
    pred = {"image_size": [7000, 7000], "boxes": [[0, 0, 1, 1]] * n, "classes": ["a"] * n, "masks": [empty] * n}
    r = httpx.post(f"{live.url}/v1/uploads", json={"mode": "create", "predictions": [pred], "dry_run": True}, timeout=30)
    assert r.status_code in (413, 422), r.text[:300]
    assert "mask" in r.json()["error"]["message"]


# --- URL policy: special-purpose ranges the standard library's tables let through ------------------

SPECIAL = ["192.0.0.8", "192.0.0.171", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9", "240.0.0.1", "255.255.255.255",
           "100.64.0.1", "0.1.2.3", "192.88.99.1", "3fff::1", "3fff:fff::1", "2001:db8::1", "2001:2::1", "2001:10::1", "2001:20::1",
           "100::1", "100:0:0:1::1", "5f00::1", "fc00::1", "fd12::1", "fe80::1", "ff02::1", "::ffff:192.0.0.8", "64:ff9b::c000:8"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1"]


@pytest.mark.parametrize("address", SPECIAL)
def test_special_purpose_addresses_are_refused(address):
    from sightline.inputs.url_policy import address_refusal

    assert address_refusal(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_still_pass(address):
    from sightline.inputs.url_policy import address_refusal

    assert address_refusal(address) is None


def test_upload_with_too_many_objects_is_422(ws_live):
    live, _ = ws_live
    n = 10_001
    pred = {"image_size": [48, 64], "boxes": [[0, 0, 1, 1]] * n, "classes": ["a"] * n}
    r = httpx.post(f"{live.url}/v1/uploads", json={"mode": "create", "predictions": [pred], "dry_run": True}, timeout=30)
    assert r.status_code == 422, r.text[:300]
    assert "predictions[0].boxes" in r.json()["error"]["message"] and "10,000" in r.json()["error"]["message"]
