"""Helpers the formats share: masks <-> RLE counts, walking a project's images, paths kept inside a folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sightline.errors import InputError
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


def inside(folder: Path, *parts: str, entry: str) -> Path:
    """``folder/parts...`` with links and ``..`` resolved, or an ``InputError`` naming ``entry`` if that
    leaves ``folder``. Importers check what they read with it, exporters what they write."""
    root = folder.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise InputError(f"{entry} points outside {str(folder)!r} ({'/'.join(parts)!r}); refused")
    return target


def read_json(path: Path, what: str) -> Any:
    """A JSON file's content, or an ``InputError`` saying which file is unreadable and why."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} {str(path)!r} is not valid JSON ({exc})") from None
