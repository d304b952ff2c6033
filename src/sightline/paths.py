"""Where sightline finds its bundled assets and keeps its local data."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS_DIR = Path(os.environ.get("SIGHTLINE_ASSETS", REPO_ROOT / "assets"))
DEMO_CHECKPOINT = ASSETS_DIR / "models" / "shapes.pt"
SAMPLES_DIR = ASSETS_DIR / "samples"
