"""Other vendors' client protocols on top of sightline's own engine paths.

``/roboflow`` answers Roboflow's ``inference_sdk.InferenceHTTPClient`` and ``/supervisely`` answers
Supervisely's ``ModelAPI(url=...)``, on the same server and port. Each layer only translates: requests go
through the same model workers, request parsing, sessions, limits, URL policy and API key as ``/v1``.
"""

from __future__ import annotations

from fastapi import FastAPI

from sightline.server.compat import roboflow, supervisely


def mount(app: FastAPI) -> None:
    """Add both layers' routes to the server app (each checks the API key itself: see ``common.check_key``)."""
    app.include_router(roboflow.router)
    app.include_router(supervisely.router)
