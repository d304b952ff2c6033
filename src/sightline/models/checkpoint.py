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
    def load(cls, path: str | Path) -> "Checkpoint":
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
        return cls(
            architecture=raw["architecture"],
            classes=list(raw["classes"]),
            task=raw["task"],
            state_dict=raw["state_dict"],
            arch_kwargs=dict(raw.get("arch_kwargs", {})),
            default_settings=dict(raw.get("default_settings", {})),
            meta=dict(raw.get("meta", {})),
        )
