"""COCO instances: export with RLE masks (or polygons), import with RLE (either form) or polygons."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image as PILImage
from pycocotools import mask as coco_mask

from sightline.errors import InputError, InvalidSettingError
from sightline.geometry import encoded_rle, rle_to_mask, rle_to_masks
from sightline.workspace.formats.common import inside, project_images, read_json, rle_counts
from sightline.workspace.names import valid_name
from sightline.workspace.records import Obj
from sightline.workspace.store import Workspace


def export_coco(ws: Workspace, project_id: int, folder: str | Path, polygons: bool = False) -> Path:
    """Write ``images/`` and ``annotations.json``; image file names keep the dataset path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    classes = ws.classes(project_id)
    cat = {c.name: i + 1 for i, c in enumerate(classes)}
    out: dict = {"images": [], "annotations": [], "categories": [{"id": cat[c.name], "name": c.name} for c in classes]}
    for dataset, image, objects in project_images(ws, project_id):
        file_name = f"{dataset.path}/{image.name}"
        target = inside(folder / "images", file_name, entry=f"image {image.id} ({file_name!r:.300})")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ws.image_bytes(image.id))
        out["images"].append({"id": image.id, "file_name": file_name, "width": image.width, "height": image.height})
        for o in objects:
            x0, y0, x1, y1 = o.box
            ann = {"id": len(out["annotations"]) + 1, "image_id": image.id, "category_id": cat[o.class_name],
                   "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0, "area": (x1 - x0) * (y1 - y0)}
            if o.score is not None:
                ann["score"] = o.score
            if o.mask_rle is not None:
                rle = {"size": [image.height, image.width], "counts": o.mask_rle}
                ann["area"] = float(coco_mask.area(encoded_rle(o.mask_rle, image.height, image.width)))
                if polygons:
                    mask = rle_to_mask(rle)
                    ann["segmentation"] = [p.flatten().astype(float).tolist() for p in sv.mask_to_polygons(mask)]
                else:
                    ann["segmentation"] = rle
            out["annotations"].append(ann)
    (folder / "annotations.json").write_text(json.dumps(out))
    return folder


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _mask(segmentation: Any, height: int, width: int, entry: str) -> np.ndarray:
    """A COCO segmentation (polygons, or RLE with string or list counts) as a mask of the image's size."""
    try:
        if isinstance(segmentation, list):  # polygons
            if not all(isinstance(p, list) and len(p) % 2 == 0 and all(_number(v) for v in p) for p in segmentation):
                raise ValueError("polygons must be lists of x, y numbers")
            rles = coco_mask.frPyObjects([p for p in segmentation if len(p) >= 6], height, width)
            if not rles:
                return np.zeros((height, width), bool)
            return coco_mask.decode(coco_mask.merge(rles)).astype(bool)
        if isinstance(segmentation, dict):
            size, counts = segmentation.get("size"), segmentation.get("counts")
            if size != [height, width]:
                raise ValueError(f"its size {size!r} is not the image's [height, width] [{height}, {width}]")
            if not (isinstance(counts, str) or (isinstance(counts, list) and all(isinstance(c, int) and c >= 0 for c in counts))):
                raise ValueError("counts must be a string or a list of run lengths")
            rle_to_masks([segmentation], (height, width))  # checks the runs cover the image exactly
            return rle_to_mask(segmentation)
        raise ValueError(f"expected polygons (a list) or RLE (an object), got {type(segmentation).__name__}")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise InputError(f"{entry}.segmentation is not a valid segmentation: {exc}") from None


@dataclass
class _CocoImage:
    dataset: str
    name: str
    path: Path
    objects: list[Obj]


def _as_list(data: dict, key: str, where: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"{where}: {key} must be a list, got {type(value).__name__}")
    for k, item in enumerate(value):
        if not isinstance(item, dict):
            raise InputError(f"{where}: {key}[{k}] must be an object, got {type(item).__name__}")
    return value


def _int_field(item: dict, key: str, entry: str) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{entry}.{key} must be an integer, got {value!r:.80}")
    return value


def _read_coco(annotations: Path, root: Path) -> list[_CocoImage]:
    """Every image and object of a COCO file, checked before anything is written to the workspace."""
    where = f"COCO file {str(annotations)!r}"
    data = read_json(annotations, "COCO file")
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a JSON object with images, annotations and categories")
    cats: dict[int, str] = {}
    for k, c in enumerate(_as_list(data, "categories", where)):
        entry = f"{where}: categories[{k}]"
        cid = _int_field(c, "id", entry)
        if not isinstance(c.get("name"), str):
            raise InputError(f"{entry}.name must be text, got {c.get('name')!r:.80}")
        cats[cid] = c["name"]
    images: dict[int, _CocoImage] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for k, img in enumerate(_as_list(data, "images", where)):
        entry = f"{where}: images[{k}]"
        iid = _int_field(img, "id", entry)
        if iid in images:
            raise InputError(f"{entry}.id {iid} appears twice")
        file_name = img.get("file_name")
        if not isinstance(file_name, str) or not file_name:
            raise InputError(f"{entry}.file_name must be text naming the image under the images folder, got {file_name!r:.80}")
        path = inside(root, file_name, entry=f"{entry}.file_name {file_name!r:.300}")
        parts = file_name.split("/")
        try:
            names = [valid_name(p, "dataset name") for p in parts[:-1]] + [valid_name(parts[-1], "image name")]
        except InvalidSettingError as exc:
            raise InputError(f"{entry}.file_name {file_name!r:.300}: {exc}") from None
        if not path.is_file():
            raise InputError(f"{entry}.file_name {file_name!r:.300} not found under {str(root)!r}")
        try:
            with PILImage.open(path) as opened:
                width, height = opened.size
        except (OSError, PILImage.DecompressionBombError) as exc:
            raise InputError(f"{entry}.file_name {file_name!r:.300} is not a readable image ({exc})") from None
        images[iid] = _CocoImage("/".join(names[:-1]) or "images", names[-1], path, [])
        sizes[iid] = (height, width)
    for k, a in enumerate(_as_list(data, "annotations", where)):
        entry = f"{where}: annotations[{k}]"
        iid, cid = _int_field(a, "image_id", entry), _int_field(a, "category_id", entry)
        if iid not in images:
            raise InputError(f"{entry}.image_id {iid} is not the id of any image in the file")
        if cid not in cats:
            raise InputError(f"{entry}.category_id {cid} is not the id of any category in the file")
        bbox = a.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_number(v) for v in bbox) and bbox[2] >= 0 and bbox[3] >= 0):
            raise InputError(f"{entry}.bbox must be [x, y, width, height] (numbers, width and height >= 0), got {bbox!r:.120}")
        score = a.get("score")
        if score is not None and not _number(score):
            raise InputError(f"{entry}.score must be a number, got {score!r:.80}")
        x, y, w, h = (float(v) for v in bbox)
        seg = a.get("segmentation")
        rle = rle_counts(_mask(seg, *sizes[iid], entry)) if seg else None
        images[iid].objects.append(Obj(cats[cid], (x, y, x + w, y + h), mask_rle=rle, score=score))
    return list(images.values())


def import_coco(ws: Workspace, annotations: str | Path, images: str | Path | None = None, name: str | None = None) -> int:
    """Import a COCO instances file (images looked up under ``images``, default: its folder's images/).

    The whole file is checked first (every ``file_name`` must stay inside the images folder, every
    annotation must point at a known image and category), so a bad file creates nothing.
    """
    annotations = Path(annotations)
    root = Path(images) if images else annotations.parent / "images"
    entries = _read_coco(annotations, root)
    project = ws.create_project(name or annotations.parent.name)
    datasets: dict[str, int] = {}
    for e in entries:
        if e.dataset not in datasets:
            datasets[e.dataset] = ws.ensure_dataset(project.id, e.dataset)
        info = ws.add_image(datasets[e.dataset], e.path, name=e.name)
        if e.objects:
            ws.add_annotations(info.id, e.objects)
    return project.id
