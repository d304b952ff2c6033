"""Where sightline finds its bundled assets and keeps its local data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS_DIR = Path(os.environ.get("SIGHTLINE_ASSETS", REPO_ROOT / "assets"))
DEMO_CHECKPOINT = ASSETS_DIR / "models" / "shapes.pt"
SAMPLES_DIR = ASSETS_DIR / "samples"


def unwritable_folder(location: str | Path) -> str | None:
    """Why the folder ``location`` cannot hold a workspace (cannot be made, or written), or None if it can.

    Tried, not guessed from permission bits: root ignores them, and a read-only mount does not show them."""
    folder = Path(location)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return f"cannot be used ({e.strerror or e})"
    return None


def filesystem_type(path: str | Path, mounts: str | None = None) -> str:
    """The type of the file system ``path`` is on (``fuse.*`` for a bucket mount), from /proc/self/mounts."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return ""
    target = Path(path).resolve()
    best, kind = -1, ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (target == point or point in target.parents) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind
