"""Uploading reviewed predictions into the workspace, or previewing what an upload would do."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from sightline.errors import InputError
from sightline.server.requests import as_dict, is_multipart, read_form, read_json
from sightline.server.state import get_state
from sightline.settings import reject_unknown
from sightline.workspace.names import valid_name
from sightline.workspace.posted_predictions import parse_predictions
from sightline.workspace.run_upload import upload_predictions
from sightline.workspace.uploads import parse_mode, parse_threshold

router = APIRouter(prefix="/v1", tags=["uploads"])
KEYS = ("mode", "predictions", "iou_merge_threshold", "project", "project_id", "dry_run", "model")


@router.post("/uploads")
async def upload(request: Request) -> dict[str, Any]:
    """Body (JSON, or multipart with a ``request`` JSON field and one ``files`` part per prediction for
    ``create``): ``{"mode", "predictions": [...], "iou_merge_threshold", "project", "dry_run"}``."""
    state = get_state(request)
    ws = state.require_workspace()
    files: list = []
    if is_multipart(request):
        fields, files = await read_form(request, state.config)
        body = as_dict(fields.get("request"), "request")
    else:
        body = await read_json(request)
    reject_unknown(body, KEYS, "POST /v1/uploads")
    predictions = await run_in_threadpool(parse_predictions, body.get("predictions"), state.config.max_image_pixels)
    images = [f.file.read() for f in files] if files else None
    mode = parse_mode(body.get("mode"))
    into_project = body.get("project_id")
    if into_project is not None and (mode.value != "create" or not isinstance(into_project, int) or isinstance(into_project, bool)):
        raise InputError("project_id continues a 'create' upload sent in parts: give the id the first part answered, with mode 'create'")
    totals, project_id = await run_in_threadpool(
        lambda: upload_predictions(
            ws, predictions, mode, model_name=valid_name(body.get("model") or "review", "model", path_safe=False), threshold=parse_threshold(body.get("iou_merge_threshold", 0.9)),
            project_name=body.get("project"), images=images, dry_run=bool(body.get("dry_run", False)), into_project=into_project,
        )
    )
    return {"totals": totals.to_dict(), "project_id": project_id, "items": [p.upload for p in predictions]}
