"""``InputItem`` (one image or frame to predict, loaded lazily) and ``InputPlan`` (a counted, lazy stream)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class InputItem:
    """One image to predict: where it came from, and how to get its pixels."""

    meta: dict[str, Any]  # Prediction source fields: source, image_path, frame_idx, ...
    load: Callable[[], np.ndarray] | None = None  # returns H×W×3 uint8 RGB, or raises with a reason
    image: np.ndarray | None = None  # pixels already in memory (arrays, decoded video frames)
    error: str | None = None  # the item is known to have failed
    keep_image: bool = False  # attach the pixels to the Prediction (the caller handed them to us)
    raw: Callable[[], bytes] | None = None  # the original encoded bytes, when cheap to get (for uploads)
    video_file: str | None = None  # the file this frame was decoded from, on this machine
    fps: float | None = None  # that video's frame rate


@dataclass
class InputPlan:
    """A lazy stream of items whose length is known before any pixel is read."""

    total: int
    description: str
    produce: Callable[[], Iterable[InputItem]] = field(repr=False)

    def __iter__(self) -> Iterator[InputItem]:
        return iter(self.produce())

    def __len__(self) -> int:
        return self.total
