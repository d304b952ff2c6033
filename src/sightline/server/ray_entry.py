"""``import_path`` for Serve's own config files and KubeRay's ``RayService`` (``sightline.server.ray_entry:app``):
the application built from ``SIGHTLINE_*`` variables (docs/scale-out.md)."""

from __future__ import annotations

import os

from sightline.server.config import ServerConfig
from sightline.server.ray_serve import RayOptions, build_application, parse_autoscale


def from_environment() -> object:
    """``SIGHTLINE_MODEL`` (comma-separated names), ``SIGHTLINE_MODEL_REPLICAS``, ``SIGHTLINE_AUTOSCALE`` (MIN:MAX),
    ``SIGHTLINE_HTTP_REPLICAS``, ``SIGHTLINE_REPLICA_CPUS`` (CPUs and threads per model replica, default 1), and the
    server's own variables (workspace, state folder, API key...)."""
    models = [m.strip() for m in os.environ.get("SIGHTLINE_MODEL", "demo/shapes").split(",") if m.strip()]
    autoscale = os.environ.get("SIGHTLINE_AUTOSCALE")
    options = RayOptions(replicas=int(os.environ.get("SIGHTLINE_MODEL_REPLICAS", "1")),
                         autoscale=parse_autoscale(autoscale) if autoscale else None,
                         http_replicas=int(os.environ.get("SIGHTLINE_HTTP_REPLICAS", "1")),
                         num_cpus=float(os.environ.get("SIGHTLINE_REPLICA_CPUS", "1")))
    return build_application(ServerConfig(), models, options)


app = from_environment()
