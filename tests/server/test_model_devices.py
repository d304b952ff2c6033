"""Loading a model names a device the server can use; a model already loaded elsewhere is not silently reused."""

from __future__ import annotations

import httpx


def test_an_unknown_device_is_refused_even_for_a_loaded_model(server):
    r = httpx.post(f"{server.url}/v1/models/load", json={"model": "demo/shapes", "device": "quantum"}, timeout=60)
    assert r.status_code == 422 and "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'" in r.json()["error"]["message"]


def test_cuda_without_a_gpu_is_refused_not_reported_loaded(server):
    r = httpx.post(f"{server.url}/v1/models/load", json={"model": "demo/shapes", "device": "cuda"}, timeout=60)
    assert r.status_code == 422 and "no usable CUDA GPU" in r.json()["error"]["message"]


def test_a_model_loaded_on_another_device_is_a_conflict(start_server):
    live = start_server()
    worker = live.state.models.get("demo/shapes")
    worker.model.device = "cuda:0"  # as if it had been loaded on a GPU
    r = httpx.post(f"{live.url}/v1/models/load", json={"model": "demo/shapes", "device": "cpu"}, timeout=60)
    assert r.status_code == 409 and "loaded on 'cuda:0'" in r.json()["error"]["message"]
    assert httpx.post(f"{live.url}/v1/models/load", json={"model": "demo/shapes"}, timeout=60).status_code == 200  # auto: any
