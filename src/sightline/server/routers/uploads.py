"""Uploading reviewed predictions into the workspace, or previewing what an upload would do."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from sightline.errors import InputError
from sightline.server.requests import as_dict, is_multipart, read_form, read_json, save_upload
from sightline.server.state import get_state
from sightline.settings import reject_unknown
from sightline.video.probe import probe_video
from sightline.workspace.names import valid_name
from sightline.workspace.posted_predictions import parse_predictions
from sightline.workspace.run_upload import upload_predictions
from sightline.workspace.uploads import parse_mode, parse_threshold

router = APIRouter(prefix="/v1", tags=["uploads"])
KEYS = ("mode", "predictions", "iou_merge_threshold", "project", "project_id", "dry_run", "model", "video", "details")


@router.post("/uploads")
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
        body = as_dict(fields.get("request"), "request")
    else:
        body = await read_json(request)
    reject_unknown(body, KEYS, "POST /v1/uploads")
    details = body.get("details", False)
    if not isinstance(details, bool):
        raise InputError(f"details must be true or false, got {details!r:.40}")
    predictions = await run_in_threadpool(parse_predictions, body.get("predictions"), state.config.max_image_pixels)
    mode = parse_mode(body.get("mode"))
    video = body.get("video", False)
    if not isinstance(video, bool) or (video and (mode.value != "create" or len(files) != 1 or body.get("project_id") is not None)):
        raise InputError("video: true sends one video file (the one multipart 'files' part) with the frames' predictions, "
                         "in one request with mode 'create'")
    if video:
        return await run_in_threadpool(_upload_video, state, ws, body, predictions, files[0])
    images = [f.file.read() for f in files] if files else None
    into_project = body.get("project_id")
    if into_project is not None and (mode.value != "create" or not isinstance(into_project, int) or isinstance(into_project, bool)):
        raise InputError("project_id continues a 'create' upload sent in parts: give the id the first part answered, with mode 'create'")
    totals, project_id = await run_in_threadpool(
        lambda: upload_predictions(
            ws, predictions, mode, model_name=valid_name(body.get("model") or "review", "model", path_safe=False), threshold=parse_threshold(body.get("iou_merge_threshold", 0.9)),
            project_name=body.get("project"), images=images, dry_run=bool(body.get("dry_run", False)), into_project=into_project,
            details=details,
        )
    )
    return {"totals": totals.to_dict(), "project_id": project_id, "items": [p.upload for p in predictions]}


def _upload_video(state: Any, ws: Any, body: dict[str, Any], predictions: list, upload: Any) -> dict[str, Any]:
    """``create`` with the video itself: saved under a server-chosen name, stored once, then deleted."""
    folder = Path(tempfile.mkdtemp(prefix="sightline-upload-video-"))
    try:
        path = save_upload(upload, folder)
        probe_video(str(path))  # not a video: a clear 4xx before any project is made
        totals, project_id = upload_predictions(
            ws, predictions, parse_mode("create"), model_name=valid_name(body.get("model") or "review", "model", path_safe=False),
            threshold=parse_threshold(body.get("iou_merge_threshold", 0.9)), project_name=body.get("project"), video_file=str(path),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"totals": totals.to_dict(), "project_id": project_id, "items": [p.upload for p in predictions]}
