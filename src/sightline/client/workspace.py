"""``RemoteWorkspace``: a server's workspace, read over HTTP, as the same records a local ``Workspace`` returns."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sightline.client.transport import Transport
from sightline.inputs.images import decode_image_bytes
from sightline.workspace.records import ClassInfo, DatasetInfo, ImageInfo, ProjectInfo, VideoInfo

R = TypeVar("R")


def record(cls: type[R], data: dict[str, Any]) -> R:
    """Build a record dataclass from a server's JSON object; keys the record does not know are ignored."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


class RemoteWorkspace:
    """Read-only projects, datasets, images and annotations of the server behind ``transport``.

    Errors are the transport's typed exceptions: ``NotFoundError`` for an unknown ID, or when the
    server has no workspace."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def projects(self) -> list[ProjectInfo]:
        return [record(ProjectInfo, p) for p in self._transport.get("/v1/projects")["projects"]]

    def project(self, project_id: int) -> ProjectInfo:
        return record(ProjectInfo, self._transport.get(f"/v1/projects/{int(project_id)}"))

    def datasets(self, project_id: int) -> list[DatasetInfo]:
        return [record(DatasetInfo, d) for d in self._transport.get(f"/v1/projects/{int(project_id)}/datasets")["datasets"]]

    def classes(self, project_id: int) -> list[ClassInfo]:
        return [record(ClassInfo, c) for c in self._transport.get(f"/v1/projects/{int(project_id)}/classes")["classes"]]

    def images(self, dataset_id: int) -> list[ImageInfo]:
        return [record(ImageInfo, i) for i in self._contents(dataset_id)["images"]]

    def videos(self, dataset_id: int) -> list[VideoInfo]:
        return [record(VideoInfo, v) for v in self._contents(dataset_id)["videos"]]

    def _contents(self, dataset_id: int) -> dict[str, Any]:
        contents: dict[str, Any] = self._transport.get(f"/v1/datasets/{int(dataset_id)}/images")
        return contents

    def image(self, image_id: int) -> ImageInfo:
        return record(ImageInfo, self._transport.get(f"/v1/images/{int(image_id)}"))

    def video(self, video_id: int) -> VideoInfo:
        return record(VideoInfo, self._transport.get(f"/v1/videos/{int(video_id)}"))

    def image_bytes(self, image_id: int) -> bytes:
        """The image file exactly as stored."""
        return self._transport.request("GET", f"/v1/images/{int(image_id)}/file").content

    def download_video(self, video_id: int, target: str | Path) -> Path:
        """Save the video file exactly as stored to ``target`` (streamed in chunks, never whole in memory)."""
        return self._transport.download(f"/v1/videos/{int(video_id)}/file", Path(target))

    def read_image(self, image_id: int) -> np.ndarray:
        """The image as an RGB uint8 array (H×W×3)."""
        return decode_image_bytes(self.image_bytes(image_id))

    def thumbnail(self, image_id: int, size: int = 256) -> bytes:
        """A JPEG whose longer side is at most ``size`` pixels (16 to 1024)."""
        return self._transport.request("GET", f"/v1/images/{int(image_id)}/thumbnail", params={"size": size}).content

    def annotations(self, image_id: int) -> list[dict[str, Any]]:
        """The image's objects: ``id``, ``class``, ``box`` (xyxy), ``score``, ``track_id``, ``source``,
        ``run_id``, ``mask`` (COCO RLE or ``None``)."""
        objects: list[dict[str, Any]] = self._transport.get(f"/v1/images/{int(image_id)}/annotations")["objects"]
        return objects

    def __repr__(self) -> str:
        return f"<RemoteWorkspace at {self._transport.url}>"
