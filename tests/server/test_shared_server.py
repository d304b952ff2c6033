"""What one client sends never stalls or takes over what other clients of the same server rely on."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx


def test_a_huge_list_of_wrong_items_is_refused_at_its_length_without_stalling_the_server(server):
    body = b'{"images": [' + b",".join([b"1"] * 700_000) + b"]}"  # 1.4 MB: one validation error per item, before
    health: list[float] = []

    def poll() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(20):
                client.get("/health").raise_for_status()
                health.append(1)

    poller = threading.Thread(target=poll)
    poller.start()
    r = httpx.post(f"{server.url}/v1/predict", content=body, headers={"content-type": "application/json"}, timeout=60)
    poller.join(timeout=60)
    assert r.status_code == 422 and "images must be at most 10000 items long" in r.json()["error"]["message"], r.text
    assert len(health) == 20  # /health kept answering


def _png_b64(width: int, height: int) -> str:
    import base64
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_a_request_holds_at_most_one_batch_of_decoded_images(server, monkeypatch):
    batch = server.state.config.max_batch_size
    most = _count_decoded_images_alive(monkeypatch)
    images = [{"data": _png_b64(64, 48)} for _ in range(20)]
    r = httpx.post(f"{server.url}/v1/predict", json={"images": images}, timeout=120)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 20 and all(p.get("error") is None for p in preds)
    assert [p["image_size"] for p in preds] == [[48, 64]] * 20
    assert 0 < most() <= batch, f"{most()} decoded images alive at once, over one batch of {batch}"


def test_a_request_over_its_pixel_budget_fails_the_remaining_items(start_server):
    live = start_server(max_request_pixels=35_000)  # three 100×100 images fit, not four
    assert httpx.get(f"{live.url}/v1/info", timeout=30).json()["limits"]["max_request_pixels"] == 35_000
    images = [{"data": _png_b64(100, 100)} for _ in range(6)]
    r = httpx.post(f"{live.url}/v1/predict", json={"images": images}, timeout=120)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p.get("error") is None for p in preds] == [True, True, True, False, False, False]
    for p in preds[3:]:
        assert "max_request_pixels" in p["error"] and "35,000" in p["error"], p["error"]


def _upload(url: str, name: str, checkpoint_path) -> httpx.Response:  # type: ignore[no-untyped-def]
    files = {"file": (name, checkpoint_path.read_bytes(), "application/octet-stream")}
    return httpx.post(f"{url}/v1/models/upload", files=files, data={"device": "cpu"}, timeout=120)


def _checkpoint_named(tmp_path, name: str, file_name: str = "model.pt"):  # type: ignore[no-untyped-def]
    from sightline.models.checkpoint import Checkpoint
    from sightline.paths import DEMO_CHECKPOINT

    checkpoint = Checkpoint.load(DEMO_CHECKPOINT)
    checkpoint.meta["name"] = name
    folder = tmp_path / f"ckpt-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    checkpoint.save(folder / file_name)
    return folder / file_name


def test_an_upload_cannot_take_a_zoo_name_or_an_unprintable_one(start_server, tmp_path):
    live = start_server(models_dir=str(tmp_path / "models"))
    httpx.post(f"{live.url}/v1/models/unload", json={"model": "demo/shapes"}, timeout=30).raise_for_status()
    for name, reason in [("demo/shapes", "zoo"), ("a\nb\x00c", "control character"), ("../x", "path separator"),
                         ("torchvision/maskrcnn_resnet50_fpn", "zoo")]:
        r = _upload(live.url, "model.pt", _checkpoint_named(tmp_path, name))
        assert r.status_code == 422, (name, r.text)
        message = r.json()["error"]["message"]
        assert "meta.name" in message and reason in message, (name, message)
    assert httpx.get(f"{live.url}/v1/models", timeout=30).json()["loaded"] == []
    assert list((tmp_path / "models").iterdir()) == []


def test_uploads_never_evict_the_default_or_a_model_in_use(start_server, tmp_path):
    live = start_server(models_dir=str(tmp_path / "models"), max_loaded_models=2)
    assert _upload(live.url, "a.pt", _checkpoint_named(tmp_path, "a")).status_code == 200
    # full: the next upload evicts the idle upload 'a', never the default model
    assert _upload(live.url, "b.pt", _checkpoint_named(tmp_path, "b")).status_code == 200
    loaded = {m["name"] for m in httpx.get(f"{live.url}/v1/models", timeout=30).json()["loaded"]}
    assert loaded == {"demo/shapes", "b"}
    # 'b' has a running session (waiting for uploads): nothing can be evicted, so the new model is refused
    session = httpx.post(f"{live.url}/v1/sessions", json={"total": 2, "model": "b"}, timeout=30)
    assert session.status_code in (200, 201), session.text
    r = _upload(live.url, "c.pt", _checkpoint_named(tmp_path, "c"))
    assert r.status_code == 429, r.text
    assert "2 models are loaded and in use; unload one first" in r.json()["error"]["message"]
    info = httpx.get(f"{live.url}/v1/models", timeout=30).json()
    assert {m["name"] for m in info["loaded"]} == {"demo/shapes", "b"} and info["default_model"] == "demo/shapes"
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")) == [
        f"{_sha(tmp_path / 'models', 'b')}.pt"]


def _sha(folder, name):  # type: ignore[no-untyped-def]
    """The stored file of model ``name``: the only one whose checkpoint meta names it."""
    from sightline.models.checkpoint import Checkpoint

    for p in folder.glob("*.pt"):
        if Checkpoint.load(p).meta.get("name") == name:
            return p.stem
    raise AssertionError(f"no stored checkpoint for {name!r}")


def test_uploaded_checkpoint_files_go_with_their_model_and_the_folder_is_capped(start_server, tmp_path):
    import os

    folder = tmp_path / "models"
    folder.mkdir()
    for i in range(5):  # left by an earlier run of the server
        old = folder / f"{i:064x}.pt"
        old.write_bytes(b"old")
        os.utime(old, (1000 + i, 1000 + i))
    live = start_server(models_dir=str(folder), max_checkpoint_files=3)
    assert httpx.get(f"{live.url}/v1/info", timeout=30).json()["limits"]["max_checkpoint_files"] == 3
    assert _upload(live.url, "a.pt", _checkpoint_named(tmp_path, "a")).status_code == 200
    kept = sorted(p.name for p in folder.iterdir())
    assert len(kept) == 3 and f"{_sha(folder, 'a')}.pt" in kept and f"{4:064x}.pt" in kept  # the oldest went first
    httpx.post(f"{live.url}/v1/models/unload", json={"model": "a"}, timeout=30).raise_for_status()
    assert not any(p.read_bytes() != b"old" for p in folder.iterdir())  # the unloaded model's file is gone
    assert len(list(folder.iterdir())) == 2


def test_large_images_go_to_the_model_as_soon_as_they_hold_one_maximal_image(start_server, monkeypatch):
    live = start_server(max_image_pixels=10_000)  # one 100×100 image is a maximal one
    most = _count_decoded_images_alive(monkeypatch)
    r = httpx.post(f"{live.url}/v1/predict", json={"images": [{"data": _png_b64(100, 100)} for _ in range(6)]}, timeout=120)
    assert r.status_code == 200 and all(p.get("error") is None for p in r.json()["predictions"]), r.text
    assert most() == 1, f"{most()} maximal images decoded at once"


def _count_decoded_images_alive(monkeypatch) -> Callable[[], int]:  # type: ignore[no-untyped-def]
    """Patch the predict route's decoder to count decoded images still alive; returns the peak so far."""
    import weakref

    from sightline.server.routers import predict as predict_route

    real_decode = predict_route.decode_image_bytes
    lock = threading.Lock()
    count = {"alive": 0, "most": 0}

    def released() -> None:
        with lock:
            count["alive"] -= 1

    def counting_decode(data, max_pixels):  # type: ignore[no-untyped-def]
        image = real_decode(data, max_pixels)
        with lock:
            count["alive"] += 1
            count["most"] = max(count["most"], count["alive"])
        weakref.finalize(image, released)
        return image

    monkeypatch.setattr(predict_route, "decode_image_bytes", counting_decode)
    return lambda: count["most"]
