"""The ingress settings a Ray cluster that sightline starts gets (server/ray_ingress.py)."""

from __future__ import annotations

import os

import pytest

from sightline.server import ray_ingress


def test_haproxy_is_asked_for_only_when_its_binary_exists():
    assert ray_ingress.settings("/usr/sbin/haproxy")["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert "RAY_SERVE_ENABLE_HA_PROXY" not in ray_ingress.settings(None)
    # handles are called from session threads: the router must keep its own loop in either case
    assert ray_ingress.settings(None)["RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP"] == "1"


def test_the_operators_settings_win(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ray_ingress.shutil, "which", lambda name: "/usr/sbin/haproxy")
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    monkeypatch.delenv("RAY_SERVE_THROUGHPUT_OPTIMIZED", raising=False)
    monkeypatch.delenv("RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", raising=False)
    line = ray_ingress.apply()
    assert os.environ["RAY_SERVE_ENABLE_HA_PROXY"] == "0" and os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert "Python proxy" in line


def test_without_haproxy_the_line_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ray_ingress.shutil, "which", lambda name: None)
    for name in ("RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP"):
        monkeypatch.delenv(name, raising=False)
    assert "install haproxy" in ray_ingress.apply()
