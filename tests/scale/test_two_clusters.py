"""Two ``sightline serve --ray`` servers on one machine, each with a Ray cluster of its own, serve their own
sessions side by side (server/ray_ingress.py). With Serve's fixed HAProxy ports the second server did not
start (stats port 8404 and metrics port 9101 taken), and with its fixed fallback-proxy port (8500, bound with
SO_REUSEPORT) one cluster's HAProxy could hand a request to the other's replicas: a session's items
answered 404."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest

import sightline
from tests.scale.cluster import RAY_TIMEOUT_S


def _haproxies_under(folder_prefix: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "haproxy" in cmd and folder_prefix in cmd:
            found.append(p)
    return found


def _cluster_folders(model) -> set[str]:  # type: ignore[no-untyped-def]
    """The HAProxy folders of a server's cluster: from its HAProxy's command line (``-f <folder>/<node>/haproxy.cfg``)."""
    folders = set()
    for child in psutil.Process(model._process.pid).children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if cmd and cmd[0].endswith("haproxy") and "-f" in cmd:
            folders.add(str(Path(cmd[cmd.index("-f") + 1]).parents[1]))
    return folders


@pytest.mark.timeout(2 * RAY_TIMEOUT_S)
def test_two_ray_servers_on_one_machine_serve_their_own_sessions():
    models: list = []
    folders: list[set[str]] = []
    try:
        for _ in range(2):  # one after the other: the second starts beside a running first
            models.append(sightline.deploy("demo/shapes", device="cpu", ray=True, replicas=1, http_replicas=1))
        folders = [_cluster_folders(m) for m in models]
        assert all(len(f) == 1 for f in folders) and folders[0] != folders[1], f"HAProxy folders: {folders}"
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(6)]

        def sessions(model) -> list[list[int]]:  # type: ignore[no-untyped-def]
            seen = []
            for _ in range(6):  # every call is a session: create, items, results, delete
                seen.append([p.index for p in model.predict(input=images, batch_size=2) if p.ok])
                seen.append([p.index for p in model.predict_detached(input=images, batch_size=2) if p.ok])
            return seen

        with ThreadPoolExecutor(2) as pool:
            for seen in pool.map(sessions, models):
                assert seen == [list(range(6))] * 12
    finally:
        for m in models:
            m.close()
    # each server ended its own HAProxy and removed its folder (an orphaned HAProxy would hold its ports)
    deadline = time.monotonic() + 60
    for folder in set().union(*folders):
        while _haproxies_under(folder):
            assert time.monotonic() < deadline, f"an HAProxy outlived its server: {folder}"
            time.sleep(0.5)
        assert not Path(folder).exists()
