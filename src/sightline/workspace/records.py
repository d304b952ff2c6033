"""Plain dataclasses the workspace returns: detached from the database session, safe to pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    description: str
    datasets: int
    images: int
    videos: int


@dataclass(frozen=True)
class DatasetInfo:
    id: int
    project_id: int
    parent_id: int | None
    name: str
    path: str  # "parent/child" for nested datasets
    images: int
    videos: int


@dataclass(frozen=True)
class ImageInfo:
    id: int
    dataset_id: int
    project_id: int
    name: str
    width: int
    height: int
    hash: str
    annotations: int = 0


@dataclass(frozen=True)
class VideoInfo:
    id: int
    dataset_id: int
    project_id: int
    name: str
    width: int
    height: int
    fps: float
    frame_count: int
    hash: str


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    shape: str
    color: str


@dataclass
class Obj:
    """One annotation object, as read from or written to the workspace."""

    class_name: str
    box: tuple[float, float, float, float]
    mask_rle: str | None = None  # COCO compressed counts (size is the image's)
    score: float | None = None
    track_id: int | None = None
    source: str = "manual"
    frame_idx: int | None = None
    id: int | None = None
    run_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def mask(self, height: int, width: int) -> np.ndarray | None:
        from sightline.geometry import rle_to_mask

        return None if self.mask_rle is None else rle_to_mask({"size": [height, width], "counts": self.mask_rle})
