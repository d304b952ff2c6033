"""How a Ray cluster that sightline starts takes HTTP traffic: Ray Serve's throughput settings (Ray ≥ 2.56).

Serve's default ingress is a Python proxy actor that relays every request and response, body chunk by body
chunk, to an HTTP replica, and every handle call between deployments goes through Ray's object store. On
this project's 2-core benchmark machine that cost a third of the throughput against the plain server
(docs/benchmarks.md, scale-out (b)). With ``haproxy`` on ``PATH``, HAProxy (in C) takes the port and sends
each request straight to an HTTP replica's own server (``RAY_SERVE_ENABLE_HA_PROXY``), and the replicas talk
over gRPC (``RAY_SERVE_THROUGHPUT_OPTIMIZED``). sightline calls its model deployments from threads, so
Serve's router keeps its own event loop (``RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP``).

The settings are read when Ray is imported and by every process of a cluster started from this one, so
``apply`` runs before Ray is imported; a cluster one joins (``--ray-address``) keeps its operator's
settings (docs/scale-out.md says which to set there). A variable already in the environment wins.
"""

from __future__ import annotations

import os
import shutil

THROUGHPUT = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "1"}
HAPROXY = {"RAY_SERVE_ENABLE_HA_PROXY": "1"}


def settings(haproxy: str | None) -> dict[str, str]:
    """The variables for a cluster started here: the throughput settings, and HAProxy when its binary exists."""
    return {**THROUGHPUT, **(HAPROXY if haproxy else {})}


def apply() -> str:
    """Set the variables (those not set already) before Ray is imported; returns a line saying what the ingress is."""
    haproxy = shutil.which("haproxy")
    for name, value in settings(haproxy).items():
        os.environ.setdefault(name, value)
    if os.environ.get("RAY_SERVE_ENABLE_HA_PROXY") == "1":
        return f"ingress: HAProxy ({haproxy or 'as configured'}) straight to the HTTP replicas"
    return "ingress: Serve's Python proxy (install haproxy for a faster one: docs/scale-out.md)"
