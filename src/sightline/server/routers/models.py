"""List, describe, load, upload and unload models."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sightline.errors import ModelLoadError
from sightline.models.zoo import is_zoo_name, list_models
from sightline.server.bodies import MAX_NAME
from sightline.server.callers import require_model_admin
from sightline.server.errors import error_body
from sightline.server.state import ServerState, get_state

router = APIRouter(prefix="/v1/models", tags=["models"])
ADMIN = [Depends(require_model_admin)]  # changing what is loaded: 403 on a keyless server unless allowed (config.allow_model_admin)
UPLOAD_PATH = "/v1/models/upload"
UPLOAD_FORM = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "a sightline checkpoint (.pt)"},
            "device": {"type": "string", "default": "auto"},
            "default": {"type": "boolean", "default": False},
        },
    }}},
}


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not a bool, 1 is not a name
    model: str = Field(max_length=MAX_NAME)
    device: str = "auto"
    default: bool = False


class UnloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(max_length=MAX_NAME)


@router.get("")
def list_loaded(state: ServerState = Depends(get_state)) -> dict:
    """Loaded models (with their info) and every model the zoo can load."""
    return {
        "default_model": state.models.default,
        "loaded": [w.model.info().to_dict() for w in state.models.loaded()],
        "available": [e.to_dict() for e in list_models()],
    }


@router.get("/info")
def model_info(model: str | None = None, state: ServerState = Depends(get_state)) -> dict:
    """One loaded model's task, classes with colours, default settings, input size and device."""
    return state.models.get(model).model.info().to_dict()


@router.post("/load", dependencies=ADMIN)
async def load(body: LoadRequest, state: ServerState = Depends(get_state)) -> dict:
    """Load a model by zoo name, or by server-side checkpoint path where local paths are allowed (idempotent)."""
    if not is_zoo_name(body.model) and not state.config.allow_local_paths:
        # the same words whatever the name is: a client learns nothing about the server's files
        known = ", ".join(e.name for e in list_models())
        raise ModelLoadError(
            f"model {body.model!r} is not available on this server: load a zoo name ({known}) or upload a "
            "checkpoint (POST /v1/models/upload); checkpoint paths load only on a server started with SIGHTLINE_ALLOW_LOCAL_PATHS=1"
        )
    worker = await run_in_threadpool(state.models.load, body.model, body.device)
    if body.default:
        state.models.default = worker.model.name
    return worker.model.info().to_dict()


@router.post("/upload", dependencies=ADMIN, response_model=None, openapi_extra={"requestBody": UPLOAD_FORM})
async def upload(request: Request, state: ServerState = Depends(get_state)) -> dict | JSONResponse:
    """Load an uploaded sightline checkpoint (kept under its SHA-256); 413 over the limit, 422 for any other file."""
    received = await state.checkpoints.receive(request, state.config.max_checkpoint_bytes)
    try:
        model = await run_in_threadpool(state.checkpoints.serve, state.models, received)
    except ModelLoadError as exc:
        return JSONResponse(error_body("ModelLoadError", str(exc), 422), status_code=422)
    return model.info().to_dict()


@router.post("/unload", dependencies=ADMIN)
async def unload(body: UnloadRequest, state: ServerState = Depends(get_state)) -> dict:
    await run_in_threadpool(state.models.unload, body.model)
    return {"unloaded": [body.model]}


@router.post("/unload_all", dependencies=ADMIN)
async def unload_all(state: ServerState = Depends(get_state)) -> dict:
    return {"unloaded": await run_in_threadpool(state.models.unload_all)}
