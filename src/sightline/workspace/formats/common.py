"""Helpers the formats share: masks <-> RLE counts, and walking a project's images."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sightline.geometry import mask_to_rle
from sightline.workspace.records import DatasetInfo, ImageInfo, Obj
from sightline.workspace.store import Workspace


def rle_counts(mask: np.ndarray) -> str:
    return mask_to_rle(mask)["counts"]


def tight_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return (0.0, 0.0, 0.0, 0.0)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def project_images(ws: Workspace, project_id: int) -> Iterator[tuple[DatasetInfo, ImageInfo, list[Obj]]]:
    for dataset in ws.datasets(project_id):
        for image in ws.images(dataset_id=dataset.id):
            yield dataset, image, ws.annotations(image.id)
