"""Builders shared by input and workspace tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def write_supervisely_project(root: Path, sample_dir: Path) -> Path:
    project = root / "my_project"
    for ds, names in {"train": ["img_00.png", "img_01.png"], "val": ["img_02.png"]}.items():
        (project / ds / "img").mkdir(parents=True)
        (project / ds / "ann").mkdir()
        for n in names:
            shutil.copy(sample_dir / n, project / ds / "img" / n)
            (project / ds / "ann" / f"{n}.json").write_text(json.dumps({"size": {"height": 360, "width": 480}, "objects": []}))
    nested = project / "val" / "datasets" / "hard" / "img"
    nested.mkdir(parents=True)
    shutil.copy(sample_dir / "img_03.png", nested / "img_03.png")
    (project / "meta.json").write_text(json.dumps({"classes": [], "tags": []}))
    return project
