"""Platform IDs as input: ``project_id``, ``dataset_id``, ``image_ids``, ``video_id`` -> sources.

Resolved by the side that owns the workspace (the local engine, or the server)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from sightline.errors import InputError
from sightline.inputs.sources import Source, SourceList
from sightline.request import WorkspaceSource
from sightline.settings import InputOptions
from sightline.video.probe import probe_video
from sightline.video.sampling import frame_window

if TYPE_CHECKING:
    from sightline.workspace.store import Workspace


def _ids(value: int | list[int]) -> list[int]:
    """One ID or a list of them (their types were checked with the request)."""
    return list(value) if isinstance(value, list) else [value]


def workspace_sources(ws: Workspace | None, request: WorkspaceSource, options: InputOptions) -> SourceList:
    """The images (or the video) the request's workspace IDs name, in a stable order."""
    if ws is None:
        raise InputError("workspace IDs need a workspace: sightline.load(..., workspace=...) or a server started with --workspace")
    name = request.source()  # exactly one kind of ID, whoever calls (the SDK checked already; a server body not)
    ids = request.ids()
    if name == "video_id":
        (vid,) = _ids(ids[name])[:1]
        video = ws.video(vid)
        path = str(ws.video_path(vid))
        frames = frame_window(probe_video(path), options)
        meta = {"source": video.name, "video_path": path, "video_id": vid, "dataset_id": video.dataset_id, "project_id": video.project_id}
        return SourceList([Source("video", meta, path, frames=frames)], f"video {vid} ({video.name})")
    images = workspace_images(ws, name, ids[name])
    sources = [Source("encoded", meta, partial(ws.blobs.read, digest)) for meta, digest in images]
    return SourceList(sources, f"{len(sources)} workspace images ({name}={ids[name]!r})")


def workspace_images(ws: Workspace, name: str, value: Any) -> list[tuple[dict[str, Any], str]]:
    """``(meta, blob digest)`` of each image that ``project_id``, ``dataset_id`` or ``image_ids`` names, in a stable order."""
    if name == "project_id":
        images = [img for pid in _ids(value) for img in (ws.project(pid), ws.images(project_id=pid))[1]]
    elif name == "dataset_id":
        images = [img for did in _ids(value) for img in (ws.dataset(did), ws.images(dataset_id=did))[1]]
    else:
        images = [ws.image(i) for i in _ids(value)]
    out: list[tuple[dict[str, Any], str]] = []
    paths: dict[int, str] = {}
    for img in images:
        if img.dataset_id not in paths:
            paths[img.dataset_id] = f"{ws.project(img.project_id).name}/{ws.dataset(img.dataset_id).path}"
        meta = {"source": f"{paths[img.dataset_id]}/{img.name}", "project_id": img.project_id, "dataset_id": img.dataset_id, "image_id": img.id}
        out.append((meta, img.hash))
    return out
