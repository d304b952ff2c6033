"""The settings each local Ray cluster that sightline starts gets (server/ray_ingress.py), without starting one."""

from __future__ import annotations

import os

import pytest

from sightline.server import ray_ingress


def test_each_cluster_gets_ports_and_a_folder_of_its_own(monkeypatch: pytest.MonkeyPatch):
    for name in (*ray_ingress.PORTS, *ray_ingress.FILES, "RAY_SERVE_ENABLE_HA_PROXY", ray_ingress.SWITCH):
        monkeypatch.delenv(name, raising=False)
    first, second = ray_ingress.plan(), ray_ingress.plan()
    try:
        assert first.env["RAY_SERVE_ENABLE_HA_PROXY"] == "1" and "HAProxy" in first.describe()
        ports = [int(s.env[name]) for s in (first, second) for name in ray_ingress.PORTS]
        assert len(set(ports)) == len(ports)  # Serve's fixed 8404, 9101, 8500, 9500 collide between clusters
        assert first.folder != second.folder and first.folder is not None and first.folder.is_dir()
        socket = os.path.join(first.env["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"], "x" * 56, "metrics.sock")
        assert len(socket) <= ray_ingress.SOCKET_MAX  # HAProxy refuses a longer socket path
    finally:
        first.close(), second.close()
    assert not first.folder and not second.folder


def test_the_switch_off_and_the_operators_own_variables_win(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ray_ingress.SWITCH, "0")
    off = ray_ingress.plan()
    assert off.env == {} and off.folder is None and "Python proxy" in off.describe()
    monkeypatch.delenv(ray_ingress.SWITCH)
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    monkeypatch.setenv("RAY_SERVE_HAPROXY_STATS_PORT", "18404")
    kept = ray_ingress.plan()
    try:
        assert "RAY_SERVE_ENABLE_HA_PROXY" not in kept.env and "RAY_SERVE_HAPROXY_STATS_PORT" not in kept.env
        assert kept.env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    finally:
        kept.close()


def test_the_cluster_settings_do_not_stay_in_this_processs_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("RAY_SERVE_HAPROXY_STATS_PORT", raising=False)
    with ray_ingress.environment({"RAY_SERVE_HAPROXY_STATS_PORT": "1"}):
        assert os.environ["RAY_SERVE_HAPROXY_STATS_PORT"] == "1"
    assert "RAY_SERVE_HAPROXY_STATS_PORT" not in os.environ  # a server this process starts next picks its own
