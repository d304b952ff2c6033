"""The built wheel works on its own: installed into a clean venv, it predicts with the bundled demo model."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PREDICT = """
import json, sightline
from sightline.paths import SAMPLES_DIR
preds = sightline.load(device="cpu").predict(str(SAMPLES_DIR / "shapes_1.jpg"))
print(json.dumps({"file": sightline.__file__, "samples": str(SAMPLES_DIR), "objects": len(preds[0]), "classes": preds[0].classes}))
"""


def _build_wheel(out: Path) -> Path:
    """Build from a copy, so the build's own folders (build/, *.egg-info) never land in the checkout."""
    tree = out.parent / "tree"
    ignore = shutil.ignore_patterns(".git", ".venv", "data", "build", "dist", "*.egg-info", "__pycache__", "tests", "docs", "benchmarks")
    shutil.copytree(REPO, tree, symlinks=True, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(tree)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("*.whl")
    return wheel


def _clean_venv(root: Path) -> Path:
    """A new venv that sees this interpreter's installed dependencies (a .pth line), but not sightline's source tree."""
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    # a bare path line: .pth files inside those folders (an editable install of sightline) are not run
    (Path(target) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.mark.slow
def test_the_wheel_installs_and_predicts_with_its_own_demo_model(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    assert wheel.name.startswith("sightline_cv-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sightline/assets/models/shapes.pt" in names
    assert {"sightline/assets/samples/shapes_1.jpg", "sightline/assets/samples/moving_shapes.mp4"} <= set(names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires and not any("==" in line.split(";")[0] for line in requires), "package dependencies are ranges, not pins"

    python = _clean_venv(tmp_path / "venv")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "YOLO_OFFLINE": "1"}
    run = subprocess.run([str(python), "-c", PREDICT], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    installed = str(tmp_path / "venv")
    assert got["file"].startswith(installed) and got["samples"].startswith(installed), got
    assert got["objects"] > 0 and set(got["classes"]) <= {"circle", "square", "triangle"}

    help_run = subprocess.run([str(tmp_path / "venv" / "bin" / "sightline"), "--help"], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=60)
    assert help_run.returncode == 0 and "predict" in help_run.stdout
