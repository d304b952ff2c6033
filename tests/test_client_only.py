"""The base install is a client: in its own venv, with the package's base dependencies and no torch, it drives a live server.

The venv gets the built wheel and its base dependencies from a folder of wheels (downloaded once, at the
versions of the project's venv, and kept in ``$SIGHTLINE_CLIENT_WHEELS`` or ``~/.cache/sightline``), so later
runs install without the network. The server runs in this process, from the project's venv.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

import sightline
from sightline.models.zoo import load_model
from sightline.server import ServerConfig, create_app
from sightline.workspace.seed import DEMO_PROJECT, seed_demo
from tests.servers import LiveServer
from tests.test_package import REPO, _build_wheel

HEAVY = ("torch", "torchvision", "sqlalchemy", "gradio", "fastapi", "uvicorn", "alembic", "trackers", "cv2")

CLIENT = r"""
import json, sys, time
started = time.perf_counter()
import sightline
model_cls, connect, Prediction = sightline.RemoteModel, sightline.connect, sightline.Prediction
import_s = time.perf_counter() - started
heavy_loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
missing = []
for name in HEAVY:
    try:
        __import__(name)
    except ImportError:
        missing.append(name)
import numpy as np
from PIL import Image

url, image_path, video_path = sys.argv[1:4]
out = {"import_s": import_s, "heavy_loaded": heavy_loaded, "missing": missing, "file": sightline.__file__}
with connect(url) as model:
    out["model"] = model.info.name
    array = np.asarray(Image.open(image_path).convert("RGB"))
    preds = model.predict(input=[array, image_path, Image.open(image_path)])
    out["predict"] = [[p.ok, len(p), p.classes] for p in preds]
    out["drawn"] = list(preds[0].draw().shape)
    out["json_round_trip"] = Prediction.from_json(preds[0].to_json()).classes == preds[0].classes

    # a long session, stopped part-way: it ends stopped and keeps what it made
    session = model.predict_detached(input=[array] * 40, batch_size=2)
    first = session.next(timeout=120)
    session.stop()
    final = session.wait_done(timeout=120)
    out["stopped"] = [final.state.value, first is not None and first.ok, 0 < final.done < 40]

    # a session read from the middle: a new handle resumes the event stream at a cursor
    done = model.predict_detached(input=[array] * 4, batch_size=2)
    done.wait_done(timeout=120)
    resumed = model.session(done.id, after=2)
    rest = list(resumed)
    out["resumed"] = [p.index for p in rest]

    # a video travels whole; the server samples it
    frames = model.predict(input=video_path, stride=10)
    out["video_frames"] = [p.frame_idx for p in frames][:3]

    ws = model.workspace
    projects = ws.projects()
    images = ws.images(ws.datasets(projects[0].id)[0].id)
    out["workspace"] = [projects[0].name, len(images), list(ws.read_image(images[0].id).shape)]

try:
    sightline.load
    out["load"] = "imported"
except ModuleNotFoundError as exc:
    out["load"] = str(exc)

big = np.asarray(Image.fromarray(array).resize((array.shape[1] * 3, array.shape[0] * 3)))
with connect(url, downsize=True) as small:
    (p,) = small.predict(input=big)
    out["downsized"] = [p.ok, list(p.image_size), len(p) > 0]
print(json.dumps(out))
"""


def _wheelhouse() -> Path:
    """Wheels of the base dependencies at the project venv's versions; downloaded once per set of versions."""
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True, text=True, timeout=120).stdout
    pins = "\n".join(line for line in frozen.splitlines() if "==" in line and not line.lower().startswith("sightline"))
    key = hashlib.sha256(("\n".join(base) + pins).encode()).hexdigest()[:16]
    root = Path(os.environ.get("SIGHTLINE_CLIENT_WHEELS") or Path.home() / ".cache" / "sightline" / f"client-wheels-{key}")
    if not (root / ".complete").exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / "constraints.txt").write_text(pins + "\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(root), "-c", str(root / "constraints.txt"), *base],
                       check=True, capture_output=True, timeout=900)
        (root / ".complete").write_text("")
    return root


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("client")
    wheel = _build_wheel(tmp / "dist")
    venv.EnvBuilder(with_pip=False).create(tmp / "venv")
    python = tmp / "venv" / "bin" / "python"
    # the project's pip installs into the new venv: faster than bootstrapping one there
    # without PYTHONPATH: a checkout's src/ on it made pip take the package as installed already, and skip it
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--find-links", str(_wheelhouse()), str(wheel)],
                   check=True, capture_output=True, timeout=900, env=env)
    return python


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    ws = sightline.Workspace(tmp_path_factory.mktemp("ws"))
    seed_demo(ws)
    app = create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)  # building the wheel and the venv takes minutes on a loaded machine
def test_the_client_alone_drives_a_live_server(client_python: Path, live, sample_video: Path, tmp_path: Path) -> None:
    from sightline.paths import SAMPLES_DIR

    script = f"HEAVY = {HEAVY!r}\n" + CLIENT
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([str(client_python), "-c", script, live.url, str(SAMPLES_DIR / "shapes_1.jpg"), str(sample_video)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["file"].startswith(str(client_python.parents[1])), got["file"]  # the installed wheel, not this checkout
    assert got["missing"] == list(HEAVY) and got["heavy_loaded"] == []  # torch & co. cannot even be imported there
    assert got["model"] == "demo/shapes"
    assert all(ok and n > 0 for ok, n, _ in got["predict"]) and got["predict"][0][2] == got["predict"][1][2] == got["predict"][2][2]
    assert len(got["drawn"]) == 3 and got["json_round_trip"]
    assert got["stopped"] == ["stopped", True, True]
    assert got["resumed"] == [2, 3]
    assert got["video_frames"] == [0, 10, 20]
    assert got["workspace"][0] == DEMO_PROJECT and got["workspace"][1] > 0 and got["workspace"][2][2] == 3
    assert got["downsized"][0] and got["downsized"][2]
    assert "pip install 'sightline-cv[server]'" in got["load"]  # the in-process engine says which extra brings it
    print(f"client import: {got['import_s']:.3f} s")
    cli = subprocess.run([str(client_python.parent / "sightline"), "predict", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert cli.returncode == 0 and "--server" in cli.stdout
