"""Any supported input -> an ``InputPlan``: paths, URLs, folders, videos, local projects, PIL images,
arrays, bytes, and lists mixing them. Nothing is decoded here; only counting happens up front."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightline.errors import InputError
from sightline.inputs.images import array_to_rgb, decode_image_bytes, is_image_path, pil_to_rgb, read_image_file
from sightline.inputs.items import InputItem, InputPlan
from sightline.inputs.supervisely import is_supervisely_project, project_images
from sightline.inputs.urls import fetch_bytes, is_url
from sightline.settings import InputOptions
from sightline.video.decode import VideoDecodeError, decode_frames
from sightline.video.probe import is_video_path, probe_video
from sightline.video.sampling import frame_window


def _single(item: InputItem, description: str) -> InputPlan:
    return InputPlan(total=1, description=description, produce=lambda: [item])


def _image_file_item(path: str, **meta: Any) -> InputItem:
    return InputItem(meta={"source": path, "image_path": path, **meta}, load=partial(read_image_file, path))


def _url_item(url: str) -> InputItem:
    return InputItem(meta={"source": url, "image_url": url}, load=lambda: decode_image_bytes(fetch_bytes(url)))


def _folder_files(folder: Path, recursive: bool) -> list[str]:
    if recursive:
        found = [os.path.join(root, f) for root, dirs, files in os.walk(folder) for f in files]
    else:
        found = [e.path for e in os.scandir(folder) if e.is_file()]
    return sorted(f for f in found if is_image_path(f))


def _folder_plan(folder: Path, options: InputOptions) -> InputPlan:
    files = _folder_files(folder, options.recursive)
    hint = "" if options.recursive else " (sub-folders are read with recursive=True)"
    return InputPlan(
        total=len(files),
        description=f"folder {str(folder)!r}: {len(files)} images{hint}",
        produce=lambda: (_image_file_item(f) for f in files),
    )


def _project_plan(folder: Path) -> InputPlan:
    images = project_images(folder)

    def produce() -> Iterator[InputItem]:
        for img in images:
            yield _image_file_item(str(img.path), source=f"{img.project}/{img.dataset}/{img.path.name}")

    return InputPlan(total=len(images), description=f"project {str(folder)!r}: {len(images)} images", produce=produce)


def _video_plan(path: str, options: InputOptions) -> InputPlan:
    info = probe_video(path)
    frames = frame_window(info, options)

    def produce() -> Iterator[InputItem]:
        try:
            for f in decode_frames(path, frames):
                meta = {"source": path, "video_path": path, "frame_idx": f.index, "timestamp_us": f.timestamp_us}
                yield InputItem(meta=meta, image=f.image)
        except VideoDecodeError as exc:
            yield InputItem(meta={"source": path, "video_path": path, "frame_idx": exc.frame_idx}, error=str(exc))

    return InputPlan(
        total=len(frames),
        description=f"video {path!r}: frames {frames.start}–{frames.stop - 1} every {frames.step}",
        produce=produce,
        kind="video",
        video_path=path,
    )


def _path_plan(value: str, options: InputOptions, in_list: bool) -> InputPlan:
    if is_url(value):
        return _single(_url_item(value), f"URL {value}")
    path = Path(value).expanduser()
    if path.is_dir():
        return _project_plan(path) if is_supervisely_project(path) else _folder_plan(path, options)
    if not path.exists():
        if in_list:  # one missing file fails that item, not the whole list
            return _single(_image_file_item(value), value)
        raise InputError(f"input {value!r} does not exist: give an image, video or folder path, or an http(s) URL")
    if is_video_path(path):
        if in_list:
            try:
                return _video_plan(str(path), options)
            except InputError as exc:
                return _single(InputItem(meta={"source": value, "video_path": value}, error=str(exc)), value)
        return _video_plan(str(path), options)
    return _single(_image_file_item(str(path)), str(path))


def _array_items(array: np.ndarray, label: str) -> Iterator[InputItem]:
    if array.ndim == 4:  # a stack of images: N×H×W×C
        for i, frame in enumerate(array):
            yield InputItem(meta={"source": f"{label}[{i}]"}, load=partial(array_to_rgb, frame), keep_image=True)
    else:
        yield InputItem(meta={"source": label}, load=partial(array_to_rgb, array), keep_image=True)


def _plan_one(value: Any, options: InputOptions, position: str, in_list: bool) -> InputPlan:
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return _path_plan(value, options, in_list)
    if isinstance(value, Image.Image):
        item = InputItem(meta={"source": f"<PIL image{position}>"}, load=partial(pil_to_rgb, value), keep_image=True)
        return _single(item, "a PIL image")
    if isinstance(value, np.ndarray):
        total = value.shape[0] if value.ndim == 4 else 1
        label = f"<array{position}>"
        return InputPlan(total=total, description=f"an array of shape {value.shape}", produce=partial(_array_items, value, label))
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        item = InputItem(meta={"source": f"<bytes{position}>"}, load=partial(decode_image_bytes, data), keep_image=True)
        return _single(item, f"{len(data)} bytes")
    raise InputError(
        f"input{position} of type {type(value).__name__} is not supported: give a path, URL, folder, video, "
        "PIL image, NumPy array, bytes, or a list of these"
    )


def _chain(plans: list[InputPlan]) -> Iterable[InputItem]:
    for plan in plans:
        yield from plan


def plan_input(value: Any, options: InputOptions) -> InputPlan:
    """Resolve ``value`` into a counted, lazy plan; raises ``InputError`` for inputs that cannot work at all."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise InputError("input is an empty list: give at least one image, video, folder or URL")
        plans = [_plan_one(v, options, f" #{i}", in_list=True) for i, v in enumerate(value)]
        kinds = {p.kind for p in plans}
        return InputPlan(
            total=sum(p.total for p in plans),
            description=f"a list of {len(value)} inputs",
            produce=partial(_chain, plans),
            kind=kinds.pop() if len(kinds) == 1 else "images",
            video_path=plans[0].video_path if len(plans) == 1 else None,
        )
    return _plan_one(value, options, "", in_list=False)
