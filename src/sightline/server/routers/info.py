"""Health, readiness and server info."""

from __future__ import annotations

import platform

import supervision
import torch
import torchvision
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

import sightline
from sightline.server.errors import error_body
from sightline.server.state import ServerState, get_state

public = APIRouter(tags=["health"])
router = APIRouter(prefix="/v1", tags=["info"])


@public.get("/health")
def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@public.get("/ready")
def ready(request: Request) -> JSONResponse:
    """Readiness: a model is loaded and can take requests."""
    state: ServerState = get_state(request)
    loaded = [w.model.name for w in state.models.loaded()]
    if not loaded:
        return JSONResponse(error_body("ServiceUnavailableError", "no model is loaded yet", 503), status_code=503)
    return JSONResponse({"ready": True, "models": loaded, "default_model": state.models.default})


@router.get("/info")
def info(state: ServerState = Depends(get_state)) -> dict:
    """Server version, library versions, limits, and the loaded models."""
    return {
        "sightline": sightline.__version__,
        "api_version": "v1",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "supervision": supervision.__version__,
        },
        "cuda_available": torch.cuda.is_available(),
        "auth_required": bool(state.config.api_key),
        "limits": state.config.limits(),
        "default_model": state.models.default,
        "models": [w.model.info().to_dict() for w in state.models.loaded()],
        "sessions": {"total": len(state.sessions.list())},
    }
