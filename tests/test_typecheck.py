"""The package passes mypy with the project's configuration (pyproject.toml: strict on the public API), as CI checks it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(900)  # a first run without mypy's cache reads torch's and SciPy's types too: about a minute of CPU
def test_mypy_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
