"""Local projects in Supervisely format: ``meta.json`` and ``<dataset>/img``, ``<dataset>/ann`` folders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sightline.errors import InputError
from sightline.inputs.images import is_image_path


@dataclass(frozen=True)
class LocalProjectImage:
    project: str
    dataset: str  # path of the dataset inside the project, nested datasets joined by "/"
    path: Path
    ann_path: Path


def is_supervisely_project(path: Path) -> bool:
    return path.is_dir() and (path / "meta.json").is_file()


def read_meta(path: Path) -> dict:
    try:
        return json.loads((path / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"project {str(path)!r}: meta.json is not valid JSON ({exc})") from None


def _datasets(folder: Path, prefix: str) -> list[tuple[str, Path]]:
    found = []
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        name = f"{prefix}{child.name}"
        if (child / "img").is_dir():
            found.append((name, child))
        if (child / "datasets").is_dir():  # nested datasets
            found.extend(_datasets(child / "datasets", f"{name}/"))
    return found


def project_images(path: Path) -> list[LocalProjectImage]:
    """Every image of a local project, dataset by dataset, sorted by name."""
    read_meta(path)
    datasets = _datasets(path, "")
    if not datasets:
        raise InputError(f"project {str(path)!r} has meta.json but no dataset folder with an img/ folder inside")
    images = []
    for name, folder in datasets:
        for img in sorted(p for p in (folder / "img").iterdir() if p.is_file() and is_image_path(p)):
            images.append(LocalProjectImage(path.name, name, img, folder / "ann" / f"{img.name}.json"))
    return images
