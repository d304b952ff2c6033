"""``sightline.deploy(..., ray=True)``: the command users run (``sightline serve --ray``) starts a Ray cluster of
its own, serves the same API, and ends the cluster when the client closes."""

from __future__ import annotations

import time

import psutil
import pytest

import sightline
from sightline.errors import InputError
from sightline.server.ray_serve import RayOptions, replica_cpus
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


def test_a_lone_model_replica_on_a_local_cluster_gets_the_machines_cores():
    """Ray gives a replica's model as many threads as it has CPUs: at 1, ``serve --ray`` on this 2-core
    machine ran the model on one core where the plain server's runs on both."""
    assert replica_cpus(RayOptions(), models=1, cores=2) == 2
    assert replica_cpus(RayOptions(replicas=2), models=1, cores=2) == 1
    assert replica_cpus(RayOptions(replicas=4), models=1, cores=2) == 1  # at least one each
    assert replica_cpus(RayOptions(autoscale=(1, 4)), models=1, cores=8) == 2  # room for the most it may scale to
    assert replica_cpus(RayOptions(), models=2, cores=8) == 4
    assert replica_cpus(RayOptions(address="auto"), models=1, cores=8) == 1  # another cluster's nodes are not this machine
    assert replica_cpus(RayOptions(num_cpus=3, address="auto"), models=1, cores=2) == 3
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="more than 0"):
            replica_cpus(RayOptions(num_cpus=bad), models=1)
