"""Where ``sightline predict`` writes: JSON per item, COCO / YOLO / Supervisely, annotated images.

The formats reuse the workspace exporters: the run's predictions go into a throw-away workspace
(``upload='create'``), which ``workspace/formats`` then writes out, so there is one writer per format.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from sightline.prediction import Prediction

FORMAT_FOLDERS = {"json": "json", "coco": "coco", "yolo": "yolo", "supervisely": "supervisely"}


class ItemNames:
    """A readable, unique file stem per item: ``photo``, ``clip_frame000012``, ``photo_2`` for a second ``photo``."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def __call__(self, pred: Prediction) -> str:
        where = pred.image_path or pred.video_path or pred.image_url or pred.source or ""
        stem = Path(where.split("?")[0]).stem if where else ""
        if not stem or stem.startswith("<"):
            stem = f"image{pred.image_id}" if pred.image_id is not None else f"item{pred.index or 0:06d}"
        if pred.frame_idx is not None:
            stem += f"_frame{pred.frame_idx:06d}"
        stem = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "item"
        name, n = stem, 1
        while name in self._taken:
            n += 1
            name = f"{stem}_{n}"
        self._taken.add(name)
        return name


def _image_bytes(model: Any, pred: Prediction) -> bytes:
    """The item's encoded image: its file, the workspace's copy, or its pixels as PNG."""
    from sightline.prediction import prediction_bytes

    if not pred.image_path and pred.image_id is not None and getattr(model, "workspace", None) is not None:
        return model.workspace.image_bytes(pred.image_id)
    return prediction_bytes(pred)


class RunOutputs:
    """Writes each prediction as it arrives; the formats are written by ``finish`` (they need the whole run)."""

    def __init__(self, model: Any, out: Path | None, formats: list[str], annotated: bool) -> None:
        self.model, self.out, self.formats, self.annotated = model, out, formats, annotated
        self.names = ItemNames()
        self._kept: list[tuple[Prediction, str]] = []
        self.written: dict[str, Path] = {}
        self.warnings: list[str] = []
        self.objects = 0
        self.projects: set[int] = set()  # where an upload put the results
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)

    def add(self, pred: Prediction) -> None:
        name = self.names(pred)
        self.objects += len(pred)
        if pred.upload and pred.project_id is not None:
            self.projects.add(pred.project_id)
        if self.out is None:  # no folder: one JSON line per item on stdout, for pipes
            sys.stdout.write(pred.to_json() + "\n")
            return
        if "json" in self.formats:
            folder = self._folder("json")
            (folder / f"{name}.json").write_text(json.dumps(pred.to_dict(), indent=1))
        if pred.error is not None:
            return
        if self.annotated and pred.frame_idx is None:  # video frames go into the annotated video instead
            try:
                from PIL import Image

                Image.fromarray(pred.draw()).save(self._folder("annotated") / f"{name}.jpg", quality=90)
            except Exception as exc:  # one image that cannot be reloaded must not end the run
                self.warnings.append(f"no annotated image for {pred.source!r}: {exc}")
        if set(self.formats) - {"json"}:
            self._kept.append((pred, name))

    def _folder(self, kind: str) -> Path:
        assert self.out is not None
        folder = self.out / FORMAT_FOLDERS.get(kind, kind)
        folder.mkdir(parents=True, exist_ok=True)
        self.written[kind] = folder
        return folder

    def finish(self) -> None:
        """Write COCO / YOLO / Supervisely from the run's successful predictions."""
        wanted = [f for f in self.formats if f != "json"]
        if not wanted or self.out is None:
            return
        from sightline.workspace.formats.coco import export_coco
        from sightline.workspace.formats.supervisely import export_project
        from sightline.workspace.formats.yolo import export_yolo
        from sightline.workspace.run_upload import upload_predictions
        from sightline.workspace.store import Workspace
        from sightline.workspace.uploads import UploadMode

        copies, images = [], []
        for pred, name in self._kept:
            try:
                data = _image_bytes(self.model, pred)
            except Exception as exc:
                self.warnings.append(f"{pred.source!r} left out of {', '.join(wanted)}: its image could not be read ({exc})")
                continue
            copy = Prediction.from_dict(pred.to_dict())
            suffix = Path(pred.image_path or "").suffix.lower() if pred.image_path and pred.frame_idx is None else ".png"
            for field in ("image_path", "image_url", "video_path", "project_id", "dataset_id", "image_id", "video_id", "frame_idx"):
                setattr(copy, field, None)
            copy.source = f"{name}{suffix}"
            copies.append(copy)
            images.append(data)
        with tempfile.TemporaryDirectory(prefix="sightline-export-") as tmp:
            ws = Workspace(tmp)
            try:
                _, project_id = upload_predictions(ws, copies, UploadMode.CREATE, model_name=self.model.name, images=images,
                                                   project_name="predictions")
                if project_id is None:  # nothing was predicted: still write empty, valid files
                    project_id = ws.create_project("predictions").id
                writers = {"coco": export_coco, "yolo": export_yolo, "supervisely": export_project}
                for fmt in wanted:
                    writers[fmt](ws, project_id, self._folder(fmt))
            finally:
                ws.close()
