"""Typed access to ``sv.Detections``.

supervision's ``Detections.__getitem__`` also reads a ``data`` column by name, so its declared return
is ``Detections | list | ndarray | None`` whatever the index; these helpers say what a row index gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:  # supervision (with SciPy) loads on first use, so importing the client stays fast
    import supervision as sv


def subset(detections: sv.Detections, index: np.ndarray | slice | list[int]) -> sv.Detections:
    """The rows of ``detections`` picked by a boolean mask, integer positions or a slice."""
    return cast("sv.Detections", detections[index])


def class_ids(detections: sv.Detections) -> np.ndarray[Any, np.dtype[np.integer[Any]]]:
    """The class ids, empty (not ``None``) when the detections carry none."""
    ids = detections.class_id
    return ids if ids is not None else np.zeros(len(detections), dtype=np.int64)
