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
