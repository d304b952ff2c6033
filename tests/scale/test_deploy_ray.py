"""``sightline.deploy(..., ray=True)``: the command users run (``sightline serve --ray``) starts a Ray cluster of
its own, serves the same API, and ends the cluster when the client closes."""

from __future__ import annotations

import time

import psutil
import pytest

import sightline
from tests.scale.cluster import RAY_TIMEOUT_S


def _ray_processes(parent: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(parent).children(recursive=True) if "ray" in " ".join(p.cmdline()).lower()]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.timeout(RAY_TIMEOUT_S)
def test_deploy_on_ray_serves_the_same_api_and_ends_its_cluster(samples, demo_model):
    model = sightline.deploy("demo/shapes", device="cpu", ray=True, replicas=1, http_replicas=1)
    process = model._process  # type: ignore[attr-defined]
    try:
        assert model.server_info()["api_version"] == "v1"
        assert _ray_processes(process.pid), "no Ray process under the server: it did not start its own cluster"
        images = [s.image for s in samples[:4]]
        over_ray = model.predict(input=images, batch_size=2)
        local = demo_model.predict(input=images, batch_size=2)
        assert [p.index for p in over_ray] == [0, 1, 2, 3]
        assert [len(p) for p in over_ray] == [len(p) for p in local] and all(p.ok for p in over_ray)
        session = model.predict_detached(input=images * 3, batch_size=2)
        assert [p.index for p in session] == list(range(12))
    finally:
        children = _ray_processes(process.pid)
        model.close()
    deadline = time.monotonic() + 120
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        assert time.monotonic() < deadline, f"the cluster outlived its server: {[c.cmdline()[:3] for c in children if c.is_running()]}"
        time.sleep(0.5)
    assert process.poll() is not None
