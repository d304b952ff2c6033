"""Any supported input -> a counted list of ``Source`` entries, before any pixel is read.

A source is one file, URL, in-memory image, or video (with the frames to sample). The engine turns
sources into decoded items (``resolve.plan_input``); the client turns them into uploads. Both count
the same way, so a session's total is known before the first byte is sent.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightline.errors import InputError
from sightline.inputs.images import is_image_path
from sightline.inputs.supervisely import is_supervisely_project, project_images
from sightline.inputs.urls import is_url
from sightline.settings import InputOptions
from sightline.video.probe import is_video_path, probe_video
from sightline.video.sampling import frame_window

SourceKind = str  # "file" | "url" | "array" | "pil" | "bytes" | "encoded" | "video" | "failed"


@dataclass
class Source:
    kind: SourceKind
    meta: dict[str, Any]
    value: Any = None  # a path, URL, ndarray, PIL image, bytes, or (encoded) a function returning bytes
    frames: range | None = None  # video only: the source frame indices to predict
    error: str | None = None

    @property
    def count(self) -> int:
        return len(self.frames) if self.frames is not None else 1


@dataclass
class SourceList:
    """Sources in input order; ``total`` counts predictions to come (a video counts its sampled frames)."""

    sources: list[Source] = field(default_factory=list)
    description: str = ""

    @property
    def total(self) -> int:
        return sum(s.count for s in self.sources)

    def __iter__(self) -> Iterator[Source]:
        return iter(self.sources)


def _folder_files(folder: Path, recursive: bool) -> list[str]:
    if recursive:
        found = [os.path.join(root, f) for root, _dirs, files in os.walk(folder) for f in files]
    else:
        found = [e.path for e in os.scandir(folder) if e.is_file()]
    _warn_skipped_videos(folder, sorted(f for f in found if is_video_path(f)))
    return sorted(f for f in found if is_image_path(f))


def _warn_skipped_videos(folder: Path, videos: list[str]) -> None:
    """A folder means its images; its videos (often long) are predicted only when named, and we say so."""
    if not videos:
        return
    names = ", ".join(os.path.relpath(v, folder) for v in videos[:5]) + (f" and {len(videos) - 5} more" if len(videos) > 5 else "")
    warnings.warn(
        f"skipped {len(videos)} video{'s' if len(videos) > 1 else ''} in folder {str(folder)!r}: {names}; "
        "give a video's path to predict its frames",
        UserWarning,
        stacklevel=2,
    )


def _file(path: str, **meta: Any) -> Source:
    return Source("file", {"source": path, "image_path": path, **meta}, path)


def _video(path: str, options: InputOptions) -> Source:
    frames = frame_window(probe_video(path), options)
    return Source("video", {"source": path, "video_path": path}, path, frames=frames)


def _path_sources(value: str, options: InputOptions, in_list: bool) -> tuple[list[Source], str]:
    if is_url(value):
        return [Source("url", {"source": value, "image_url": value}, value)], f"URL {value}"
    path = Path(value).expanduser()
    if path.is_dir():
        if is_supervisely_project(path):
            images = project_images(path)
            sources = [_file(str(i.path), source=f"{i.project}/{i.dataset}/{i.path.name}") for i in images]
            return sources, f"project {value!r}: {len(images)} images"
        files = _folder_files(path, options.recursive)
        hint = "" if options.recursive else " (sub-folders are read with recursive=True)"
        return [_file(f) for f in files], f"folder {value!r}: {len(files)} images{hint}"
    if not path.exists():
        if in_list:  # one missing file fails that item, not the whole list
            return [_file(value)], value
        raise InputError(f"input {value!r} does not exist: give an image, video or folder path, or an http(s) URL")
    if is_video_path(path):
        try:
            source = _video(str(path), options)
        except InputError as exc:
            if not in_list:
                raise
            source = Source("failed", {"source": value, "video_path": value}, error=str(exc))
        return [source], f"video {value!r}"
    return [_file(str(path))], str(path)


def _one(value: Any, options: InputOptions, position: str, in_list: bool) -> tuple[list[Source], str]:
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return _path_sources(value, options, in_list)
    if isinstance(value, Image.Image):
        return [Source("pil", {"source": f"<PIL image{position}>"}, value)], "a PIL image"
    if isinstance(value, np.ndarray):
        label = f"<array{position}>"
        if value.ndim == 4:  # a stack of images: N×H×W×C
            return [Source("array", {"source": f"{label}[{i}]"}, frame) for i, frame in enumerate(value)], f"{len(value)} arrays"
        return [Source("array", {"source": label}, value)], f"an array of shape {value.shape}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [Source("bytes", {"source": f"<bytes{position}>"}, bytes(value))], f"{len(value)} bytes"
    raise InputError(
        f"input{position} of type {type(value).__name__} is not supported: give a path, URL, folder, video, "
        "PIL image, NumPy array, bytes, or a list of these"
    )


def collect_sources(value: Any, options: InputOptions) -> SourceList:
    """Resolve ``value`` into sources; ``InputError`` for inputs that cannot work at all. Sources collected
    already (a ``SourceList``) are taken as they are: a folder is listed and a video probed once per call."""
    if isinstance(value, SourceList):
        return value
    if isinstance(value, (list, tuple)):
        if not value:
            raise InputError("input is an empty list: give at least one image, video, folder or URL")
        out = SourceList(description=f"a list of {len(value)} inputs")
        for i, v in enumerate(value):
            out.sources.extend(_one(v, options, f" #{i}", in_list=True)[0])
        return out
    sources, description = _one(value, options, "", in_list=False)
    return SourceList(sources, description)


