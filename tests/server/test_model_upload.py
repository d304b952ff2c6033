"""POST /v1/models/upload and ``RemoteModel.upload_model``: sightline checkpoints only, within a size limit."""

from __future__ import annotations

import hashlib
import os
import sys
import types
import uuid

import httpx
import numpy as np
import pytest

import sightline
from sightline.models.checkpoint import Checkpoint
from sightline.paths import DEMO_CHECKPOINT
from sightline.server import ServerConfig
from sightline.server.checkpoints import CheckpointStore


def _error(response: httpx.Response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status and all(n in body["message"] for n in needles), body
    return body["message"]


def _post(url: str, name: str, data: bytes, **fields: str) -> httpx.Response:
    files = {"file": (name, data, "application/octet-stream")}
    return httpx.post(f"{url}/v1/models/upload", files=files, data=fields, timeout=60)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kept(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_upload_then_predict_with_it_by_name(start_server, tmp_path, samples, demo_model):
    live = start_server(models_dir=str(tmp_path / "models"))
    with sightline.connect(live.url) as remote:
        info = remote.upload_model(DEMO_CHECKPOINT, device="cpu")
        assert (info.name, info.classes, info.device) == ("shapes", ["circle", "square", "triangle"], "cpu")
        assert remote.info.name == "demo/shapes"  # the default model is unchanged
        uploaded = remote.use_model(info.name)
        over_http = uploaded.predict(input=[s.image for s in samples[:2]])
        local = demo_model.predict(input=[s.image for s in samples[:2]])
        for a, b in zip(over_http, local):
            assert a.classes == b.classes and len(a) > 0
            np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
        # kept under its content hash, nothing else left behind
        assert _kept(tmp_path / "models") == [f"{_sha256(DEMO_CHECKPOINT)}.pt"]
        # the same file again is a no-op; default=True makes it the server's default
        assert remote.upload_model(DEMO_CHECKPOINT, device="cpu", default=True) == info
        assert remote.server_info()["default_model"] == "shapes"
        assert sorted(m.name for m in remote.loaded_models()) == ["demo/shapes", "shapes"]


def test_other_weights_under_a_loaded_name_conflict(start_server, tmp_path):
    live = start_server(models_dir=str(tmp_path / "models"))
    changed = Checkpoint.load(DEMO_CHECKPOINT)
    changed.meta["note"] = "other weights, same name"
    (tmp_path / "other").mkdir()
    changed.save(tmp_path / "other" / "shapes.pt")
    with sightline.connect(live.url) as remote:
        remote.upload_model(DEMO_CHECKPOINT, device="cpu")
        with pytest.raises(sightline.ConflictError, match="'shapes' is already loaded; unload it first"):
            remote.upload_model(tmp_path / "other" / "shapes.pt", device="cpu")
        remote.unload_model("shapes")
        assert remote.upload_model(tmp_path / "other" / "shapes.pt", device="cpu").name == "shapes"
    assert _kept(tmp_path / "models") == [f"{_sha256(tmp_path / 'other' / 'shapes.pt')}.pt"]  # the unloaded one's file went with it


def test_random_bytes_are_a_readable_422(start_server, tmp_path):
    live = start_server(models_dir=str(tmp_path / "models"))
    message = _error(_post(live.url, "weights.pt", os.urandom(5000)), 422, "'weights.pt'", "could not be read",
                     "sightline's checkpoint format", "SIGHTLINE_ALLOW_LOCAL_PATHS=1")
    assert str(tmp_path) not in message  # the server's own file names stay private
    assert "will likely succeed" not in message  # torch's advice to unpickle is left out
    (tmp_path / "junk.pt").write_bytes(b"definitely not a checkpoint")
    with sightline.connect(live.url) as remote:
        with pytest.raises(sightline.InputError, match=r"(?s)'junk.pt' could not be read.*Checkpoint.save") as caught:
            remote.upload_model(tmp_path / "junk.pt")
        assert caught.value.status == 422 and caught.value.detail["type"] == "ModelLoadError"  # type: ignore[attr-defined]
        assert [m.name for m in remote.loaded_models()] == ["demo/shapes"]
    assert _kept(tmp_path / "models") == []  # refused files are not kept


def test_a_torch_file_that_is_not_a_sightline_checkpoint(start_server, tmp_path):
    import torch

    live = start_server(models_dir=str(tmp_path / "models"))
    buf = tmp_path / "state_dict.pt"
    torch.save({"weight": torch.zeros(2)}, buf)
    _error(_post(live.url, "state_dict.pt", buf.read_bytes()), 422, "'state_dict.pt' is not a sightline checkpoint")


class _Trap:
    """Unpickling this would create a folder: proof that code in an upload never runs."""

    marker = ""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (self.marker,))


def test_pickled_code_is_never_run(start_server, tmp_path, monkeypatch):
    import torch

    live = start_server(models_dir=str(tmp_path / "models"))
    trap = _Trap()
    trap.marker = str(tmp_path / "code-ran")
    torch.save({"format": "sightline-checkpoint/1", "architecture": trap}, tmp_path / "evil.pt")
    _error(_post(live.url, "evil.pt", (tmp_path / "evil.pt").read_bytes()), 422, "'evil.pt' could not be read", "posix.mkdir")
    assert not (tmp_path / "code-ran").exists()
    # an Ultralytics-style file (pickled classes from an ultralytics module) is named as such
    module = types.ModuleType("ultralytics_stub")
    stub = type("DetectionModel", (), {"__module__": "ultralytics_stub"})
    module.DetectionModel = stub  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ultralytics_stub", module)
    torch.save({"model": stub()}, tmp_path / "yolo.pt")
    _error(_post(live.url, "yolo.pt", (tmp_path / "yolo.pt").read_bytes()), 422,
           "'yolo.pt' is an Ultralytics checkpoint", "unpickles code", "load it by path with POST /v1/models/load")


def test_checkpoint_size_limit(start_server, tmp_path):
    live = start_server(models_dir=str(tmp_path / "models"), max_checkpoint_bytes=1000)
    assert httpx.get(f"{live.url}/v1/info").json()["limits"]["max_checkpoint_bytes"] == 1000
    # far over: refused from Content-Length before the body is read
    _error(_post(live.url, "big.pt", b"x" * 200_000), 413, "over the limit of 1,000 bytes (max_checkpoint_bytes)")
    # just over: the file part itself is measured
    _error(_post(live.url, "big.pt", b"x" * 1001), 413, "the checkpoint upload is 1,001 bytes, over the limit of 1,000 bytes")
    # no Content-Length (chunked): the stream is cut off once it passes the limit
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pt"\r\n\r\n'.encode()
    chunks = [head] + [b"x" * 10_000] * 20 + [f"\r\n--{boundary}--\r\n".encode()]
    r = httpx.post(f"{live.url}/v1/models/upload", content=iter(chunks), timeout=60,
                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    _error(r, 413, "the checkpoint upload is over the limit of 1,000 bytes (max_checkpoint_bytes)")
    # the SDK checks the limit before sending anything
    with sightline.connect(live.url) as remote:
        with pytest.raises(sightline.PayloadTooLargeError, match="over the server's checkpoint limit of 1,000"):
            remote.upload_model(DEMO_CHECKPOINT)
    assert _kept(tmp_path / "models") == []
    # the general request limit does not apply to checkpoints, which have their own
    roomy = start_server(models_dir=str(tmp_path / "roomy"), max_request_bytes=10_000)
    with sightline.connect(roomy.url) as remote:
        assert remote.upload_model(DEMO_CHECKPOINT, device="cpu").name == "shapes"


def test_form_mistakes(start_server, tmp_path):
    live = start_server(models_dir=str(tmp_path / "models"))
    u = f"{live.url}/v1/models/upload"
    _error(httpx.post(u, json={"file": "x"}), 400, "multipart/form-data with one part named 'file'")
    _error(httpx.post(u, files={"weights": ("a.pt", b"x")}), 422, "unknown form field(s) 'weights'")
    _error(httpx.post(u, data={"device": "cpu"}, files={"file": ("a.pt", b"x")}), 422, "could not be read")
    _error(_post(live.url, "a.pt", b"x", default="maybe"), 422, "'default' must be true or false")
    _error(_post(live.url, "shapes.pt", DEMO_CHECKPOINT.read_bytes(), device="banana"), 422, "device must be 'auto', 'cpu'")
    assert _kept(tmp_path / "models") == []  # nothing is left of a refused upload
    assert "/v1/models/upload" in httpx.get(f"{live.url}/openapi.json").json()["paths"]


def test_where_checkpoints_are_kept(tmp_path, monkeypatch, start_server):
    monkeypatch.setenv("SIGHTLINE_MODELS_DIR", str(tmp_path / "from-env"))
    assert ServerConfig().models_dir == str(tmp_path / "from-env")
    monkeypatch.delenv("SIGHTLINE_MODELS_DIR")
    assert ServerConfig().models_dir is None and ServerConfig().limits()["max_checkpoint_bytes"] == 512 * 1024 * 1024
    assert CheckpointStore.for_config(ServerConfig(models_dir=str(tmp_path / "m"))).root == tmp_path / "m"
    in_ws = CheckpointStore.for_config(ServerConfig(workspace=str(tmp_path / "ws")))
    assert in_ws.root == tmp_path / "ws" / "models" and in_ws.root.is_dir() and not in_ws.temporary
    # a database workspace, or none: a temp dir made at startup, removed at shutdown
    in_db = CheckpointStore.for_config(ServerConfig(workspace="postgresql://user@dbhost/sightline", models_dir=None))
    assert in_db.temporary and in_db.root.is_dir()
    in_db.close()
    assert not in_db.root.exists()
    live = start_server(models_dir=None)
    root = live.state.checkpoints.root
    assert live.state.checkpoints.temporary and root.is_dir() and root.name.startswith("sightline-models-")
    live.stop()
    assert not root.exists()
