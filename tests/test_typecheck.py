"""The package passes mypy with the project's configuration (pyproject.toml: strict on the public API), as CI checks it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# A first run without mypy's cache (.mypy_cache) also reads torch's, NumPy's and SQLAlchemy's types: 50 s of
# CPU, which took 14 min on the 2 shared cores at a load average of 50. With the cache: seconds.
@pytest.mark.timeout(1800)
def test_mypy_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
