"""Uploading reviewed predictions into the workspace, or previewing what an upload would do."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from sightline.errors import InputError
from sightline.request import UploadRequest
from sightline.server.bodies import parse_body, schema_of
from sightline.server.requests import as_dict, is_multipart, read_form, read_json, save_upload
from sightline.server.state import get_state
from sightline.video.probe import probe_video
from sightline.workspace.names import valid_name
from sightline.workspace.posted_predictions import parse_predictions
from sightline.workspace.run_upload import upload_predictions
from sightline.workspace.uploads import UploadMode

router = APIRouter(prefix="/v1", tags=["uploads"])
FILES = "create: the predictions' images, one part per prediction in order (or, with video, the one video file)"
UPLOAD_FORM = {"type": "object", "properties": {
    "request": {"type": "string", "description": "JSON text: the body below"},
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": FILES},
}}


@router.post("/uploads", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": schema_of(UploadRequest)}, "multipart/form-data": {"schema": UPLOAD_FORM}}}})
async def upload(request: Request) -> dict[str, Any]:
    """Body (JSON, or multipart with a ``request`` JSON field and one ``files`` part per prediction for
    ``create``): ``{"mode", "predictions": [...], "iou_merge_threshold", "project", "dry_run", "details"}``;
    ``"details": true``: each item's answer also says what happens to each of its objects.

    ``"video": true`` with ``create``: the one ``files`` part is the video the predictions' frames come
    from; the new project gets it as a video with per-frame objects (and track ids), as a run does."""
    state = get_state(request)
    ws = state.require_workspace()
    files: list = []
    if is_multipart(request):
        fields, files = await read_form(request, state.config)
        raw = as_dict(fields.get("request"), "request")
    else:
        raw = await read_json(request)
    body = await run_in_threadpool(parse_body, UploadRequest, raw)
    predictions = await run_in_threadpool(parse_predictions, body.predictions, state.config.max_image_pixels)
    mode = UploadMode(body.mode)
    if body.video and (mode is not UploadMode.CREATE or len(files) != 1 or body.project_id is not None):
        raise InputError("video: true sends one video file (the one multipart 'files' part) with the frames' predictions, "
                         "in one request with mode 'create'")
    if body.video:
        return await run_in_threadpool(_upload_video, ws, body, predictions, files[0])
    images = [f.file.read() for f in files] if files else None
    if body.project_id is not None and mode is not UploadMode.CREATE:
        raise InputError("project_id continues a 'create' upload sent in parts: give the id the first part answered, with mode 'create'")
    totals, project_id = await run_in_threadpool(
        lambda: upload_predictions(
            ws, predictions, mode, model_name=valid_name(body.model or "review", "model", path_safe=False), threshold=body.iou_merge_threshold,
            project_name=body.project, images=images, dry_run=body.dry_run, into_project=body.project_id,
            details=body.details,
        )
    )
    return {"totals": totals.to_dict(), "project_id": project_id, "items": [p.upload for p in predictions]}


def _upload_video(ws: Any, body: UploadRequest, predictions: list, upload: Any) -> dict[str, Any]:
    """``create`` with the video itself: saved under a server-chosen name, stored once, then deleted."""
    folder = Path(tempfile.mkdtemp(prefix="sightline-upload-video-"))
    try:
        path = save_upload(upload, folder)
        probe_video(str(path))  # not a video: a clear 4xx before any project is made
        totals, project_id = upload_predictions(
            ws, predictions, UploadMode.CREATE, model_name=valid_name(body.model or "review", "model", path_safe=False),
            threshold=body.iou_merge_threshold, project_name=body.project, video_file=str(path),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"totals": totals.to_dict(), "project_id": project_id, "items": [p.upload for p in predictions]}
