"""The workspace, read-only over HTTP: projects, datasets, images (files, thumbnails), annotations."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from PIL import Image as PILImage

from sightline.errors import InputError
from sightline.server.state import get_state
from sightline.workspace.store import Workspace

router = APIRouter(prefix="/v1", tags=["workspace"])


def _ws(request: Request) -> Workspace:
    return get_state(request).require_workspace()


def _d(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


@router.get("/projects")
def projects(request: Request) -> dict:
    return {"projects": [_d(p) for p in _ws(request).projects()]}


@router.get("/projects/{project_id}")
def project(project_id: int, request: Request) -> dict:
    return _d(_ws(request).project(project_id))


@router.get("/projects/{project_id}/datasets")
def datasets(project_id: int, request: Request) -> dict:
    ws = _ws(request)
    ws.project(project_id)
    return {"datasets": [_d(d) for d in ws.datasets(project_id)]}


@router.get("/projects/{project_id}/classes")
def classes(project_id: int, request: Request) -> dict:
    ws = _ws(request)
    ws.project(project_id)
    return {"classes": [_d(c) for c in ws.classes(project_id)]}


@router.get("/datasets/{dataset_id}/images")
def images(dataset_id: int, request: Request) -> dict:
    ws = _ws(request)
    ws.dataset(dataset_id)
    return {"images": [_d(i) for i in ws.images(dataset_id=dataset_id)], "videos": [_d(v) for v in ws.videos(dataset_id)]}


@router.get("/images/{image_id}")
def image(image_id: int, request: Request) -> dict:
    return _d(_ws(request).image(image_id))


@router.get("/images/{image_id}/file")
def image_file(image_id: int, request: Request) -> Response:
    data = _ws(request).image_bytes(image_id)
    with PILImage.open(io.BytesIO(data)) as im:
        kind = (im.format or "octet-stream").lower()
    return Response(data, media_type=f"image/{kind}" if kind != "octet-stream" else "application/octet-stream")


@router.get("/images/{image_id}/thumbnail")
async def thumbnail(image_id: int, request: Request, size: int = 256) -> Response:
    if not 16 <= size <= 1024:
        raise InputError(f"size must be between 16 and 1024 pixels, got {size}")
    ws = _ws(request)

    def render() -> bytes:
        pixels = ws.read_image(image_id)
        im = PILImage.fromarray(pixels)
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
        return buf.getvalue()

    return Response(await run_in_threadpool(render), media_type="image/jpeg")


@router.get("/images/{image_id}/annotations")
def image_annotations(image_id: int, request: Request) -> dict:  # (``annotations`` is the __future__ import's name)
    ws = _ws(request)
    info = ws.image(image_id)
    objects = []
    for o in ws.annotations(image_id):
        objects.append({
            "id": o.id, "class": o.class_name, "box": list(o.box), "score": o.score, "track_id": o.track_id,
            "source": o.source, "run_id": o.run_id,
            "mask": None if o.mask_rle is None else {"size": [info.height, info.width], "counts": o.mask_rle},
        })
    return {"image": _d(info), "objects": objects}


@router.get("/videos/{video_id}")
def video(video_id: int, request: Request) -> dict:
    return _d(_ws(request).video(video_id))


@router.get("/videos/{video_id}/file")
def video_file(video_id: int, request: Request) -> FileResponse:
    """The video file exactly as stored (streamed; a client reads its frames itself, e.g. to draw them)."""
    ws = _ws(request)
    info = ws.video(video_id)  # an unknown id is a 404 before any path is looked at
    return FileResponse(ws.video_path(video_id), media_type="application/octet-stream", filename=info.name)
