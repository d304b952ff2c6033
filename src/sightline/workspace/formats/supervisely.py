"""Supervisely-format project folders: ``meta.json``, ``<dataset>/img``, ``<dataset>/ann/<image>.json``.

Bitmaps are base64(zlib(PNG)) crops with an ``origin``, as Supervisely writes them; rectangles and
polygons are read too (polygons are rasterised into masks).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from sightline.errors import InputError, InvalidSettingError
from sightline.inputs.supervisely import project_images as folder_images
from sightline.inputs.supervisely import read_meta
from sightline.workspace.formats.common import inside, project_images, read_json, rle_counts, tight_box
from sightline.workspace.names import valid_name
from sightline.workspace.records import Obj
from sightline.workspace.store import Workspace


def encode_bitmap(mask: np.ndarray) -> dict:
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    crop = mask[y0 : ys.max() + 1, x0 : xs.max() + 1].astype(np.uint8)
    img = Image.fromarray(crop, mode="L").convert("P")
    img.putpalette([0, 0, 0, 255, 255, 255])
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0)
    return {"data": base64.b64encode(zlib.compress(buf.getvalue())).decode("ascii"), "origin": [x0, y0]}


def decode_bitmap(bitmap: dict, height: int, width: int) -> np.ndarray:
    png = zlib.decompress(base64.b64decode(bitmap["data"]))
    with Image.open(io.BytesIO(png)) as img:
        if img.mode in ("RGBA", "LA"):
            crop = np.asarray(img)[..., -1] > 0
        else:
            crop = np.asarray(img.convert("L")) > 0
    x0, y0 = (int(v) for v in bitmap["origin"])
    mask = np.zeros((height, width), bool)
    h, w = min(crop.shape[0], height - y0), min(crop.shape[1], width - x0)
    mask[y0 : y0 + h, x0 : x0 + w] = crop[:h, :w]
    return mask


def _points(value: Any) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p) for p in value
    ):
        raise ValueError("points must be a list of [x, y] numbers")
    return [(float(x), float(y)) for x, y in value]


def _object(obj: Any, height: int, width: int) -> Obj:
    if not isinstance(obj, dict):
        raise ValueError(f"must be an object, got {type(obj).__name__}")
    kind = obj.get("geometryType")
    name = obj.get("classTitle")
    if not isinstance(name, str):
        raise ValueError(f"classTitle must be text, got {name!r:.80}")
    if kind == "bitmap":
        bitmap = obj.get("bitmap")
        if not isinstance(bitmap, dict) or not isinstance(bitmap.get("data"), str) or len(_points([bitmap.get("origin")])) != 1:
            raise ValueError("bitmap must be {data: base64 text, origin: [x, y]}")
        mask = decode_bitmap(bitmap, height, width)
        return Obj(name, tight_box(mask), mask_rle=rle_counts(mask))
    points = obj.get("points")
    if not isinstance(points, dict):
        raise ValueError(f"points must be an object with exterior (and interior), got {points!r:.80}")
    exterior = _points(points.get("exterior"))
    if kind == "rectangle":
        if len(exterior) != 2:
            raise ValueError("a rectangle's exterior must be two corner points")
        (x0, y0), (x1, y1) = exterior
        return Obj(name, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    if kind == "polygon":
        holes = points.get("interior", [])
        if not isinstance(holes, list):
            raise ValueError("interior must be a list of polygons")
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        if len(exterior) >= 2:
            draw.polygon(exterior, fill=1)
        for hole in holes:
            hole = _points(hole)
            if len(hole) >= 2:
                draw.polygon(hole, fill=0)
        mask = np.asarray(canvas) > 0
        return Obj(name, tight_box(mask), mask_rle=rle_counts(mask))
    raise InputError(f"object geometry {kind!r:.80} is not supported (bitmap, rectangle and polygon are)")


def _read_objects(ann_path: Path, height: int, width: int) -> list[Obj]:
    """The objects of one annotation file, or an ``InputError`` naming the file and the object."""
    ann = read_json(ann_path, "annotation file")
    if not isinstance(ann, dict):
        raise InputError(f"annotation file {str(ann_path)!r} must be a JSON object with an objects list")
    objects = ann.get("objects", [])
    if not isinstance(objects, list):
        raise InputError(f"annotation file {str(ann_path)!r}: objects must be a list, got {type(objects).__name__}")
    out = []
    for k, o in enumerate(objects):
        try:
            out.append(_object(o, height, width))
        except (ValueError, TypeError, KeyError, OSError, zlib.error, binascii.Error) as exc:
            raise InputError(f"annotation file {str(ann_path)!r}: objects[{k}] is not valid: {exc}") from None
    return out


def import_project(ws: Workspace, folder: str | Path, name: str | None = None) -> int:
    """Import a local Supervisely-format project; returns the new project's id.

    Every image and annotation file is read and checked first (each must stay inside the project
    folder, links included), so a bad project creates nothing.
    """
    folder = Path(folder)
    read_meta(folder)
    entries = []
    for img in folder_images(folder):
        path = inside(folder, str(img.path.relative_to(folder)), entry=f"image {str(img.path)!r}")
        try:
            for part in img.dataset.split("/"):
                valid_name(part, "dataset name")
            valid_name(img.path.name, "image name")
        except InvalidSettingError as exc:
            raise InputError(f"image {str(img.path)!r}: {exc}") from None
        try:
            with Image.open(path) as opened:
                width, height = opened.size
        except (OSError, Image.DecompressionBombError) as exc:
            raise InputError(f"image {str(img.path)!r} is not a readable image ({exc})") from None
        objects: list[Obj] = []
        if img.ann_path.is_file():
            ann_path = inside(folder, str(img.ann_path.relative_to(folder)), entry=f"annotation file {str(img.ann_path)!r}")
            objects = _read_objects(ann_path, height, width)
        entries.append((img.dataset, path, img.path.name, objects))
    project = ws.create_project(name or folder.name)
    for dataset, path, image_name, objects in entries:
        dataset_id = ws.ensure_dataset(project.id, dataset)
        image = ws.add_image(dataset_id, path, name=image_name)
        if objects:
            ws.add_annotations(image.id, objects)
    return project.id


def export_project(ws: Workspace, project_id: int, folder: str | Path) -> Path:
    """Write a project as a Supervisely-format folder (masks as bitmaps, boxes as rectangles)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = ws.classes(project_id)
    meta = {"classes": [{"title": c.name, "shape": "bitmap" if c.shape == "mask" else "rectangle", "color": c.color} for c in classes], "tags": []}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    for dataset, image, objects in project_images(ws, project_id):
        parts = dataset.path.split("/")
        base = folder / parts[0]
        for part in parts[1:]:
            base = base / "datasets" / part
        entry = f"image {image.id} ({dataset.path}/{image.name!r:.300})"
        image_file = inside(folder, str(base.relative_to(folder)), "img", image.name, entry=entry)
        ann_file = inside(folder, str(base.relative_to(folder)), "ann", f"{image.name}.json", entry=entry)
        image_file.parent.mkdir(parents=True, exist_ok=True)
        ann_file.parent.mkdir(parents=True, exist_ok=True)
        image_file.write_bytes(ws.image_bytes(image.id))
        out = []
        for o in objects:
            mask = o.mask(image.height, image.width)
            if mask is not None and mask.any():
                out.append({"classTitle": o.class_name, "geometryType": "bitmap", "bitmap": encode_bitmap(mask)})
            else:
                x0, y0, x1, y1 = o.box
                out.append({"classTitle": o.class_name, "geometryType": "rectangle", "points": {"exterior": [[x0, y0], [x1, y1]], "interior": []}})
        ann = {"size": {"height": image.height, "width": image.width}, "objects": out, "tags": []}
        ann_file.write_text(json.dumps(ann))
    return folder
