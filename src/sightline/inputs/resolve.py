"""Sources -> an ``InputPlan`` of lazily decoded items, for the in-process engine."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from sightline.inputs.images import array_to_rgb, decode_image_bytes, pil_to_rgb, read_image_file
from sightline.inputs.items import InputItem, InputPlan
from sightline.inputs.sources import Source, SourceList, collect_sources
from sightline.inputs.urls import fetch_bytes
from sightline.settings import InputOptions
from sightline.video.decode import FrameFailure, decode_frames
from sightline.video.probe import probe_video


def _file_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _fetch_image(url: str) -> Any:
    return decode_image_bytes(fetch_bytes(url))


def source_items(source: Source) -> Iterator[InputItem]:
    """The decoded-on-demand items of one source (a video yields one item per sampled frame)."""
    meta = dict(source.meta)
    if source.kind == "file":
        yield InputItem(meta=meta, load=partial(read_image_file, source.value), raw=partial(_file_bytes, source.value))
    elif source.kind == "url":
        yield InputItem(meta=meta, load=partial(_fetch_image, source.value))
    elif source.kind == "array":
        yield InputItem(meta=meta, load=partial(array_to_rgb, source.value), keep_image=True)
    elif source.kind == "pil":
        yield InputItem(meta=meta, load=partial(pil_to_rgb, source.value), keep_image=True)
    elif source.kind == "bytes":
        yield InputItem(meta=meta, load=partial(decode_image_bytes, source.value), keep_image=True)
    elif source.kind == "encoded":  # bytes from a store (a workspace blob)
        yield InputItem(meta=meta, load=lambda: decode_image_bytes(source.value()), raw=source.value)
    elif source.kind == "video" and source.frames is not None:  # a video source always has its sampled frames
        fps = probe_video(source.value).fps
        for f in decode_frames(source.value, source.frames):  # one item per sampled frame, decoded or not
            if isinstance(f, FrameFailure):
                yield InputItem(meta={**meta, "frame_idx": f.index}, error=f.reason)
            else:
                frame_meta = {**meta, "frame_idx": f.index, "timestamp_us": f.timestamp_us}
                yield InputItem(meta=frame_meta, image=f.image, video_file=source.value, fps=fps)
    else:
        yield InputItem(meta=meta, error=source.error or "this input could not be used")


def _items(sources: SourceList) -> Iterator[InputItem]:
    for source in sources:
        yield from source_items(source)


def plan_input(value: Any, options: InputOptions) -> InputPlan:
    """Resolve ``value`` into a counted, lazy plan; raises ``InputError`` for inputs that cannot work at all."""
    return plan_sources(collect_sources(value, options))


def plan_sources(sources: SourceList) -> InputPlan:
    """A lazy plan over already-collected sources."""
    return InputPlan(total=sources.total, description=sources.description, produce=partial(_items, sources))
