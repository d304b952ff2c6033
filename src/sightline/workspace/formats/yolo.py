"""YOLO export: ``images/``, ``labels/`` (one line per object, normalised), ``data.yaml``.

Box classes are written as ``class cx cy w h``; mask classes as segmentation polygons
``class x1 y1 x2 y2 ...`` (the largest polygon of the mask), as Ultralytics reads them.
"""

from __future__ import annotations

from pathlib import Path

import supervision as sv

from sightline.workspace.formats.common import inside, project_images
from sightline.workspace.store import Workspace


def export_yolo(ws: Workspace, project_id: int, folder: str | Path) -> Path:
    folder = Path(folder)
    classes = ws.classes(project_id)
    index = {c.name: i for i, c in enumerate(classes)}
    for dataset, image, objects in project_images(ws, project_id):
        stem = f"{dataset.path.replace('/', '__')}__{Path(image.name).stem}"
        entry = f"image {image.id} ({dataset.path}/{image.name!r:.300})"
        image_file = inside(folder, "images", f"{stem}{Path(image.name).suffix}", entry=entry)
        label_file = inside(folder, "labels", f"{stem}.txt", entry=entry)
        image_file.parent.mkdir(parents=True, exist_ok=True)
        label_file.parent.mkdir(parents=True, exist_ok=True)
        image_file.write_bytes(ws.image_bytes(image.id))
        lines = []
        for o in objects:
            mask = o.mask(image.height, image.width)
            polygons = sv.mask_to_polygons(mask) if mask is not None else []
            if polygons:
                poly = max(polygons, key=len)
                coords = " ".join(f"{x / image.width:.6f} {y / image.height:.6f}" for x, y in poly)
                lines.append(f"{index[o.class_name]} {coords}")
            else:
                x0, y0, x1, y1 = o.box
                cx, cy = (x0 + x1) / 2 / image.width, (y0 + y1) / 2 / image.height
                lines.append(f"{index[o.class_name]} {cx:.6f} {cy:.6f} {(x1 - x0) / image.width:.6f} {(y1 - y0) / image.height:.6f}")
        label_file.write_text("\n".join(lines) + ("\n" if lines else ""))
    names = "\n".join(f"  {i}: {c.name}" for i, c in enumerate(classes))
    (folder / "data.yaml").write_text(f"path: {folder.resolve()}\ntrain: images\nval: images\nnames:\n{names}\n")
    return folder
