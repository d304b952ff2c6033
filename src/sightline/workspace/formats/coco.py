"""COCO instances: export with RLE masks (or polygons), import with RLE (either form) or polygons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import supervision as sv
from pycocotools import mask as coco_mask

from sightline.errors import InputError
from sightline.geometry import rle_to_mask
from sightline.workspace.formats.common import project_images, rle_counts
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
        (folder / "images" / dataset.path).mkdir(parents=True, exist_ok=True)
        (folder / "images" / file_name).write_bytes(ws.image_bytes(image.id))
        out["images"].append({"id": image.id, "file_name": file_name, "width": image.width, "height": image.height})
        for o in objects:
            x0, y0, x1, y1 = o.box
            ann = {"id": len(out["annotations"]) + 1, "image_id": image.id, "category_id": cat[o.class_name],
                   "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0, "area": (x1 - x0) * (y1 - y0)}
            if o.score is not None:
                ann["score"] = o.score
            if o.mask_rle is not None:
                rle = {"size": [image.height, image.width], "counts": o.mask_rle}
                ann["area"] = float(coco_mask.area({"size": rle["size"], "counts": o.mask_rle.encode("ascii")}))
                if polygons:
                    mask = rle_to_mask(rle)
                    ann["segmentation"] = [p.flatten().astype(float).tolist() for p in sv.mask_to_polygons(mask)]
                else:
                    ann["segmentation"] = rle
            out["annotations"].append(ann)
    (folder / "annotations.json").write_text(json.dumps(out))
    return folder


def _mask(segmentation: object, height: int, width: int) -> np.ndarray:
    if isinstance(segmentation, list):  # polygons
        rles = coco_mask.frPyObjects([p for p in segmentation if len(p) >= 6], height, width)
        return coco_mask.decode(coco_mask.merge(rles)).astype(bool)
    if isinstance(segmentation, dict):
        return rle_to_mask(segmentation)
    raise InputError(f"unsupported segmentation {type(segmentation).__name__}")


def import_coco(ws: Workspace, annotations: str | Path, images: str | Path | None = None, name: str | None = None) -> int:
    """Import a COCO instances file (images looked up under ``images``, default: its folder's images/)."""
    annotations = Path(annotations)
    data = json.loads(annotations.read_text())
    root = Path(images) if images else annotations.parent / "images"
    project = ws.create_project(name or annotations.parent.name)
    cats = {c["id"]: c["name"] for c in data.get("categories", [])}
    by_image: dict[int, list[dict]] = {}
    for a in data.get("annotations", []):
        by_image.setdefault(a["image_id"], []).append(a)
    datasets: dict[str, int] = {}
    for img in data.get("images", []):
        parts = img["file_name"].split("/")
        dpath = "/".join(parts[:-1]) or "images"
        if dpath not in datasets:
            datasets[dpath] = ws.ensure_dataset(project.id, dpath)
        path = root / img["file_name"]
        if not path.is_file():
            raise InputError(f"COCO image {img['file_name']!r} not found under {str(root)!r}")
        info = ws.add_image(datasets[dpath], path, name=parts[-1])
        objects = []
        for a in by_image.get(img["id"], []):
            x, y, w, h = a["bbox"]
            seg = a.get("segmentation")
            rle = rle_counts(_mask(seg, info.height, info.width)) if seg else None
            objects.append(Obj(cats[a["category_id"]], (x, y, x + w, y + h), mask_rle=rle, score=a.get("score")))
        if objects:
            ws.add_annotations(info.id, objects)
    return project.id
