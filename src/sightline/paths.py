"""Where sightline finds its bundled assets (demo model, samples) and keeps its local data.

The assets ship inside the package (``sightline/assets``); in the repository that folder is a link to
the top-level ``assets/``, so a source checkout and an installed wheel find them the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ASSETS = Path(__file__).resolve().parent / "assets"
ASSETS_DIR = Path(os.environ.get("SIGHTLINE_ASSETS", PACKAGE_ASSETS))
DEMO_CHECKPOINT = ASSETS_DIR / "models" / "shapes.pt"
SAMPLES_DIR = ASSETS_DIR / "samples"
