"""Where sightline finds its bundled assets (demo model, samples) and keeps its local data.

The assets ship inside the package (``sightline/assets``); in the repository that folder is a link to
the top-level ``assets/``, so a source checkout and an installed wheel find them the same way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE_ASSETS = Path(__file__).resolve().parent / "assets"
ASSETS_DIR = Path(os.environ.get("SIGHTLINE_ASSETS", PACKAGE_ASSETS))
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
