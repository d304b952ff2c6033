"""The sightline checkpoint file: architecture, class names, task, settings and weights in one file.

Saved with ``torch.save`` from plain containers and tensors only, so it loads with
``torch.load(weights_only=True)``: opening a checkpoint never runs code from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sightline.errors import ModelLoadError

FORMAT = "sightline-checkpoint/1"


@dataclass
class Checkpoint:
    """What a checkpoint records."""

    architecture: str
    classes: list[str]
    task: str
    state_dict: dict[str, torch.Tensor]
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    default_settings: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        """Write atomically: a crash mid-save never leaves a truncated checkpoint behind."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(
            {
                "format": FORMAT,
                "architecture": self.architecture,
                "arch_kwargs": self.arch_kwargs,
                "classes": list(self.classes),
                "task": self.task,
                "default_settings": self.default_settings,
                "meta": self.meta,
                "state_dict": self.state_dict,
            },
            tmp,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint, raising ``ModelLoadError`` that says what is wrong with the file."""
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"checkpoint {str(path)!r} does not exist")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file
            raise ModelLoadError(f"checkpoint {str(path)!r} could not be read: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ModelLoadError(
                f"{str(path)!r} is not a sightline checkpoint (expected format {FORMAT!r}); "
                "a bare torchvision state_dict needs an architecture and class names: see docs/models.md"
            )
        problem = _problem(raw)
        if problem is not None:
            raise ModelLoadError(f"checkpoint {str(path)!r} is not usable: {problem}")
        return cls(
            architecture=raw["architecture"],
            classes=list(raw["classes"]),
            task=raw["task"],
            state_dict=raw["state_dict"],
            arch_kwargs=dict(raw.get("arch_kwargs") or {}),
            default_settings=dict(raw.get("default_settings") or {}),
            meta=dict(raw.get("meta") or {}),
        )


def _problem(raw: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's fields, naming the field; None when each has its type."""
    for name in ("architecture", "task"):
        if name not in raw:
            return f"field {name!r} is missing"
        if not isinstance(raw[name], str):
            return f"field {name!r} must be a string, got {type(raw[name]).__name__}"
    if not raw["architecture"]:
        return "field 'architecture' must name an architecture, got an empty string"
    if raw["task"] not in ("", "detection", "instance_segmentation"):  # empty: the architecture's own task
        return f"field 'task' must be 'detection', 'instance_segmentation' or empty, got {raw['task'][:40]!r}"
    classes = raw.get("classes")
    if not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) and c for c in classes):
        return "field 'classes' must be a non-empty list of class names (strings)"
    if not isinstance(raw.get("state_dict"), dict) or not all(isinstance(v, torch.Tensor) for v in raw["state_dict"].values()):
        return "field 'state_dict' must map parameter names to tensors"
    for name in ("arch_kwargs", "default_settings", "meta"):
        value = raw.get(name)
        if value is not None and not (isinstance(value, dict) and all(isinstance(k, str) for k in value)):
            return f"field {name!r} must be a mapping with string keys, got {type(value).__name__}"
    return None
