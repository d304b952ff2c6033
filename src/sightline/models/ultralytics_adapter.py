"""Ultralytics YOLO checkpoints (detect and segment) behind ``Model``: an optional, AGPL-licensed extra."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from sightline.errors import ModelLoadError
from sightline.geometry import compact_masks
from sightline.models.base import Model, Task, finalize
from sightline.settings import PredictSettings

INSTALL_HINT = "pip install 'sightline[ultralytics]' (ultralytics is AGPL-3.0, so sightline does not require it)"


def looks_like_ultralytics(path: Path) -> bool:
    """True when a .pt file pickles ultralytics classes (checked without unpickling anything)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            return pkl is not None and b"ultralytics" in z.read(pkl)
    except (zipfile.BadZipFile, OSError):
        return False


class UltralyticsModel(Model):
    framework = "ultralytics"

    def __init__(self, path: str, device: str = "auto") -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")  # never phone home from a server
        try:
            from ultralytics import YOLO
        except ImportError:
            raise ModelLoadError(f"{path!r} is an Ultralytics YOLO checkpoint, but ultralytics is not installed: {INSTALL_HINT}") from None
        from sightline.models.torchvision_adapter import resolve_device

        try:
            self._yolo = YOLO(path)
        except Exception as exc:
            raise ModelLoadError(f"ultralytics could not load {path!r}: {exc}") from None
        if self._yolo.task not in ("detect", "segment"):
            raise ModelLoadError(f"{path!r} is a YOLO {self._yolo.task!r} model; sightline serves 'detect' and 'segment' models")
        self.device = str(resolve_device(device))
        self.name = f"ultralytics/{Path(path).stem}"
        names = self._yolo.names
        self.classes = [names[i] for i in range(len(names))]
        self.task = Task.INSTANCE_SEGMENTATION if self._yolo.task == "segment" else Task.DETECTION
        imgsz = int(getattr(self._yolo.model, "args", {}).get("imgsz", 640) or 640)
        self.input_size = (imgsz, imgsz)
        self.default_settings = {"conf": 0.25, "iou": 0.7, "max_detections": 300}
        self._lock = threading.Lock()

    def to_device(self, device: str) -> None:
        from sightline.models.torchvision_adapter import resolve_device

        self.device = str(resolve_device(device))  # ultralytics moves the model on its next call

    def predict_batch(self, images: list[np.ndarray], settings: PredictSettings) -> list[sv.Detections]:
        kwargs: dict[str, Any] = {"conf": settings.conf, "iou": settings.iou, "max_det": settings.max_detections, "verbose": False, "device": self.device}
        if settings.img_size is not None:
            kwargs["imgsz"] = settings.img_size if isinstance(settings.img_size, int) else list(settings.img_size)
        with self._lock:
            # ultralytics expects BGR arrays, as OpenCV reads them
            results = self._yolo.predict([np.ascontiguousarray(im[..., ::-1]) for im in images], **kwargs)
        out = []
        for result in results:
            d = sv.Detections.from_ultralytics(result)
            d.data.pop("class_name", None)
            if isinstance(d.mask, np.ndarray):
                d.mask = compact_masks(d.mask)
            out.append(finalize(d, settings, self.classes))
        return out
