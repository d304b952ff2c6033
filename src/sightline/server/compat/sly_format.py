"""sightline results in Supervisely's JSON: ProjectMeta for a model's classes, annotations per image."""

from __future__ import annotations

import base64
import io
import uuid
import zlib
from pathlib import PurePath
from typing import Any

import numpy as np
from PIL import Image

from sightline.geometry import dense_masks
from sightline.models.base import ModelInfo, Task
from sightline.prediction import Prediction

CONFIDENCE_TAG = "confidence"


def geometry_of(info: ModelInfo) -> str:
    return "bitmap" if info.task is Task.INSTANCE_SEGMENTATION else "rectangle"


def project_meta(info: ModelInfo) -> dict[str, Any]:
    """The model's output classes (``bitmap`` for segmentation, ``rectangle`` for detection) and the score tag."""
    shape = geometry_of(info)
    classes = [{"title": name, "shape": shape, "color": color.upper(), "geometry_config": {}, "hotkey": "", "description": ""}
               for name, color in zip(info.classes, info.class_colors)]
    tags = [{"name": CONFIDENCE_TAG, "value_type": "any_number", "color": "#F6FF00", "hotkey": "", "applicable_type": "all",
             "classes": []}]
    return {"classes": classes, "tags": tags, "projectType": "images"}


def encode_bitmap(mask: np.ndarray) -> str:
    """Supervisely's bitmap ``data``: base64 of zlib of a 1-bit palette PNG (as ``sly.Bitmap.data_2_base64``)."""
    image = Image.fromarray(mask.astype(np.uint8))
    image.putpalette([0, 0, 0, 255, 255, 255])
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=0, optimize=0)
    return base64.b64encode(zlib.compress(out.getvalue())).decode()


def _bitmap(mask: np.ndarray, box: tuple[int, int, int, int]) -> dict[str, Any]:
    """The mask cropped to its own extent, with ``origin`` [x, y]; an empty mask becomes its box filled."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        x1, y1, x2, y2 = box
        crop = np.ones((max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)), bool)
        return {"data": encode_bitmap(crop), "origin": [x1, y1]}
    x0, y0 = int(xs.min()), int(ys.min())
    crop = mask[y0: int(ys.max()) + 1, x0: int(xs.max()) + 1]
    return {"data": encode_bitmap(crop), "origin": [x0, y0]}


def _pixel_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """xyxy (float, right/bottom exclusive) → Supervisely's inclusive pixel rectangle inside the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    left, top = int(np.clip(round(x1), 0, max(width - 1, 0))), int(np.clip(round(y1), 0, max(height - 1, 0)))
    right, bottom = int(np.clip(round(x2) - 1, left, max(width - 1, 0))), int(np.clip(round(y2) - 1, top, max(height - 1, 0)))
    return left, top, right, bottom


def annotation(pred: Prediction, info: ModelInfo) -> dict[str, Any]:
    """One image's (or frame's) annotation JSON; track ids, when tracking, in ``customBigData`` (one per object)."""
    height, width = pred.image_size or (0, 0)
    masks = dense_masks(pred.detections.mask) if geometry_of(info) == "bitmap" and pred.detections.mask is not None else None
    names = pred.classes
    objects = []
    for i, (box, score, class_id) in enumerate(zip(pred.boxes, pred.scores, pred.class_ids)):
        left, top, right, bottom = _pixel_box(box, width, height)
        obj: dict[str, Any] = {
            "classTitle": names[i] if i < len(names) else info.classes[int(class_id)],
            "description": "",
            "tags": [{"name": CONFIDENCE_TAG, "value": round(float(score), 5)}],
        }
        if masks is not None:
            obj.update(geometryType="bitmap", bitmap=_bitmap(masks[i], (left, top, right, bottom)))
        else:
            obj.update(geometryType="rectangle", points={"exterior": [[left, top], [right, bottom]], "interior": []})
        objects.append(obj)
    tracks = pred.track_ids
    custom: Any = [int(t) for t in tracks] if tracks is not None and len(tracks) == len(objects) and objects else {}
    return {"description": "", "size": {"height": height, "width": width}, "tags": [], "objects": objects, "customBigData": custom}


def pending_result(pred: Prediction, info: ModelInfo) -> dict[str, Any]:
    """An entry of ``pending_results``; a failed item keeps its place with an empty annotation and ``error``."""
    source = pred.source or ""
    return {
        "annotation": annotation(pred, info),
        "source": source,
        "name": PurePath(source).name if source else None,
        "path": None,  # the client's own path: the client fills it in
        "url": pred.image_url,
        "project_id": pred.project_id,
        "dataset_id": pred.dataset_id,
        "image_id": pred.image_id,
        "video_id": pred.video_id,
        "frame_index": pred.frame_idx,
        "data": {"index": pred.index, "timestamp_us": pred.timestamp_us, "upload": pred.upload},
        "error": pred.error,
    }


def video_annotation(preds: list[Prediction], info: ModelInfo, frames_count: int | None = None) -> dict[str, Any] | None:
    """A tracked video's results as Supervisely VideoAnnotation JSON (what its servers answer as ``video_ann``):
    one object per track id, the class of its first sighting; per frame, one figure per tracked object with
    its ``trackId``. Detections the tracker did not confirm (track id -1) are left out, as Supervisely's own
    tracker leaves them out. None when no result is a tracked video frame. ``frames_count``: the video's
    frames (default: one past the last frame predicted)."""
    frames = [p for p in preds if p.frame_idx is not None and p.error is None and p.track_ids is not None]
    if not frames:
        return None
    height, width = next((p.image_size for p in frames if p.image_size), (0, 0))
    objects: dict[int, dict[str, Any]] = {}
    out_frames = []
    for pred in frames:
        figures = []
        tracks: Any = pred.track_ids if pred.track_ids is not None else []
        for obj, track in zip(annotation(pred, info)["objects"], tracks):
            if track < 0:
                continue
            holder = objects.setdefault(int(track), {"key": uuid.uuid4().hex, "classTitle": obj["classTitle"], "tags": []})
            kind = obj["geometryType"]
            geometry = {"bitmap": obj["bitmap"], "shape": "bitmap", "geometryType": "bitmap"} if kind == "bitmap" else {"points": obj["points"]}
            figures.append({"key": uuid.uuid4().hex, "objectKey": holder["key"], "geometryType": kind, "geometry": geometry,
                            "trackId": str(int(track))})
        if figures:
            out_frames.append({"index": int(pred.frame_idx), "figures": figures})  # type: ignore[arg-type]
    last = max(int(p.frame_idx) for p in frames)  # type: ignore[arg-type]
    return {"size": {"height": height, "width": width}, "description": "", "key": uuid.uuid4().hex, "tags": [],
            "objects": list(objects.values()), "frames": out_frames, "framesCount": max(frames_count or 0, last + 1)}
