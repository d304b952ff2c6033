"""Supervisely-format project folders: ``meta.json``, ``<dataset>/img``, ``<dataset>/ann/<image>.json``.

Bitmaps are base64(zlib(PNG)) crops with an ``origin``, as Supervisely writes them; rectangles and
polygons are read too (polygons are rasterised into masks).
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sightline.errors import InputError
from sightline.inputs.supervisely import project_images as folder_images
from sightline.inputs.supervisely import read_meta
from sightline.workspace.formats.common import project_images, rle_counts, tight_box
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


def _object(obj: dict, height: int, width: int) -> Obj:
    kind = obj.get("geometryType")
    name = obj["classTitle"]
    if kind == "bitmap":
        mask = decode_bitmap(obj["bitmap"], height, width)
        return Obj(name, tight_box(mask), mask_rle=rle_counts(mask))
    if kind == "rectangle":
        (x0, y0), (x1, y1) = obj["points"]["exterior"]
        return Obj(name, (float(min(x0, x1)), float(min(y0, y1)), float(max(x0, x1)), float(max(y0, y1))))
    if kind == "polygon":
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        draw.polygon([tuple(p) for p in obj["points"]["exterior"]], fill=1)
        for hole in obj["points"].get("interior", []):
            draw.polygon([tuple(p) for p in hole], fill=0)
        mask = np.asarray(canvas) > 0
        return Obj(name, tight_box(mask), mask_rle=rle_counts(mask))
    raise InputError(f"object geometry {kind!r} is not supported (bitmap, rectangle and polygon are)")


def import_project(ws: Workspace, folder: str | Path, name: str | None = None) -> int:
    """Import a local Supervisely-format project; returns the new project's id."""
    folder = Path(folder)
    read_meta(folder)
    project = ws.create_project(name or folder.name)
    for img in folder_images(folder):
        dataset_id = ws.ensure_dataset(project.id, img.dataset)
        image = ws.add_image(dataset_id, img.path)
        if img.ann_path.is_file():
            ann = json.loads(img.ann_path.read_text())
            objects = [_object(o, image.height, image.width) for o in ann.get("objects", [])]
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
        (base / "img").mkdir(parents=True, exist_ok=True)
        (base / "ann").mkdir(parents=True, exist_ok=True)
        (base / "img" / image.name).write_bytes(ws.image_bytes(image.id))
        out = []
        for o in objects:
            mask = o.mask(image.height, image.width)
            if mask is not None and mask.any():
                out.append({"classTitle": o.class_name, "geometryType": "bitmap", "bitmap": encode_bitmap(mask)})
            else:
                x0, y0, x1, y1 = o.box
                out.append({"classTitle": o.class_name, "geometryType": "rectangle", "points": {"exterior": [[x0, y0], [x1, y1]], "interior": []}})
        ann = {"size": {"height": image.height, "width": image.width}, "objects": out, "tags": []}
        (base / "ann" / f"{image.name}.json").write_text(json.dumps(ann))
    return folder
