"""The ``Model`` interface every adapter implements, and the post-processing they share."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sightline.detections import class_ids, subset
from sightline.settings import PredictSettings

if TYPE_CHECKING:  # supervision (with SciPy) loads on first use, so importing the client stays fast
    import supervision as sv


class Task(str, enum.Enum):
    DETECTION = "detection"
    INSTANCE_SEGMENTATION = "instance_segmentation"


@dataclass(frozen=True)
class ZooEntry:
    """A model the zoo can load by name (``list_models()``, locally or on a server)."""

    name: str
    task: Task
    description: str
    needs_download: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task.value, "description": self.description, "needs_download": self.needs_download}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZooEntry:
        return cls(d["name"], Task(d["task"]), d.get("description", ""), bool(d.get("needs_download", False)))


@dataclass
class ModelInfo:
    """What a client needs to know about a loaded model."""

    name: str
    task: Task
    classes: list[str]
    class_colors: list[str]
    default_settings: dict[str, Any]
    input_size: tuple[int, int] | None
    device: str
    framework: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task.value,
            "classes": [{"id": i, "name": n, "color": c} for i, (n, c) in enumerate(zip(self.classes, self.class_colors))],
            "default_settings": self.default_settings,
            "input_size": list(self.input_size) if self.input_size else None,
            "device": self.device,
            "framework": self.framework,
            **self.extra,
        }


class Model(ABC):
    """A loaded detection or instance-segmentation model that predicts batches of RGB images."""

    name: str
    classes: list[str]
    task: Task
    default_settings: dict[str, Any]
    input_size: tuple[int, int] | None
    device: str
    framework: str

    @abstractmethod
    def predict_batch(self, images: list[np.ndarray], settings: PredictSettings) -> list[sv.Detections]:
        """Predict H×W×3 uint8 RGB images; boxes and masks are in each image's own pixels.

        ``settings`` are already resolved against ``default_settings``.
        """

    def info(self) -> ModelInfo:
        from sightline.drawing import class_color

        return ModelInfo(
            name=self.name,
            task=self.task,
            classes=list(self.classes),
            class_colors=[class_color(i) for i in range(len(self.classes))],
            default_settings=dict(self.default_settings),
            input_size=self.input_size,
            device=self.device,
            framework=self.framework,
        )

    def to_device(self, device: str) -> None:
        """Move the model to ``device`` (already validated); models that run elsewhere may refuse."""
        if device != self.device:
            raise ValueError(f"model {self.name!r} cannot move from {self.device!r} to {device!r}")

    def close(self) -> None:  # noqa: B027 (optional: most models free their memory with the object)
        """Release the model's memory; it cannot predict afterwards."""


def finalize(detections: sv.Detections, settings: PredictSettings, classes: list[str]) -> sv.Detections:
    """Apply the confidence threshold, class filter and detection cap; attach class names."""
    if len(detections):
        keep = np.ones(len(detections), dtype=bool)
        if settings.conf is not None and detections.confidence is not None:
            keep &= detections.confidence >= settings.conf
        if settings.classes is not None:
            wanted = [classes.index(c) for c in settings.classes]
            keep &= np.isin(class_ids(detections), wanted)
        detections = subset(detections, keep)
        if settings.agnostic_nms and len(detections) > 1 and detections.confidence is not None:
            import torch
            from torchvision.ops import nms

            iou = settings.iou if settings.iou is not None else 0.5  # resolved settings always carry one
            kept = nms(torch.from_numpy(detections.xyxy.astype("float32")), torch.from_numpy(detections.confidence.astype("float32")), iou)
            detections = subset(detections, np.sort(kept.numpy()))
        if settings.max_detections is not None and len(detections) > settings.max_detections:
            scores = detections.confidence if detections.confidence is not None else np.zeros(len(detections))
            order = np.argsort(-scores, kind="stable")[: settings.max_detections]
            detections = subset(detections, np.sort(order))
    names = np.array([classes[int(c)] for c in class_ids(detections)], dtype=object)
    detections.data["class_name"] = names
    return detections


def info_from_dict(d: dict[str, Any]) -> ModelInfo:
    """The inverse of ``ModelInfo.to_dict`` (what a server sends)."""
    known = {"name", "task", "classes", "default_settings", "input_size", "device", "framework"}
    return ModelInfo(
        name=d["name"],
        task=Task(d["task"]),
        classes=[c["name"] for c in d["classes"]],
        class_colors=[c["color"] for c in d["classes"]],
        default_settings=dict(d.get("default_settings") or {}),
        input_size=tuple(d["input_size"]) if d.get("input_size") else None,
        device=d.get("device", ""),
        framework=d.get("framework", ""),
        extra={k: v for k, v in d.items() if k not in known},
    )


# documented and shown as sightline.<name>, where users import them from
Task.__module__ = "sightline"
Model.__module__ = "sightline"
