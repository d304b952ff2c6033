"""How app.py starts: it never phones home, and a workspace folder it cannot write does not stop it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

import app
from sightline.client.deploy import start_app

ROOT = Path(__file__).resolve().parents[1]


def test_the_page_sends_no_analytics():
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    env["PYTHONPATH"] = str(ROOT / "src")
    code = "import sightline.ui.app, gradio as gr; print(gr.Blocks().analytics_enabled)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def _unwritable(tmp_path: Path) -> Path:
    """A folder that cannot be made, even by root: its parent is a file."""
    (tmp_path / "a-file").write_text("")
    return tmp_path / "a-file" / "data"


def test_an_unwritable_workspace_folder_falls_back_to_a_temporary_one_and_says_so(tmp_path, monkeypatch, capsys):
    wanted = _unwritable(tmp_path)
    monkeypatch.setenv("SIGHTLINE_WORKSPACE", str(wanted))
    used = Path(app.workspace_location())
    assert used != wanted and used.is_dir() and os.access(used, os.W_OK)
    shutil.rmtree(used)
    message = capsys.readouterr().err
    assert str(wanted) in message and "not persist" in message and "Traceback" not in message


def test_a_database_url_is_used_as_given(monkeypatch):
    monkeypatch.setenv("SIGHTLINE_WORKSPACE", "postgresql://postgres@127.0.0.1:5432/test")
    assert app.workspace_location() == "postgresql://postgres@127.0.0.1:5432/test"


def test_the_app_serves_when_its_workspace_folder_cannot_be_written(tmp_path):
    process, url = start_app(env={"SIGHTLINE_DEVICE": "cpu", "SIGHTLINE_WORKSPACE": str(_unwritable(tmp_path))}, startup_timeout=300)
    try:
        assert httpx.get(f"{url}/ready", timeout=30).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_bucket_mount_is_recognised_as_fuse():
    from sightline.paths import filesystem_type

    mounts = "/dev/vda / ext4 rw 0 0\nhf-mount /data fuse.hf-mount rw 0 0\ntmpfs /data/tmp tmpfs rw 0 0\n"
    assert filesystem_type("/data/sightline", mounts) == "fuse.hf-mount"
    assert filesystem_type("/data/tmp/x", mounts) == "tmpfs"
    assert filesystem_type("/home/user/app/data", mounts) == "ext4"


def test_deploying_models_from_the_page_is_open_on_loopback_only(tmp_path, monkeypatch):
    """`make run` on one's own machine deploys other models from the page; the same app bound to every address
    (a container, a Space) without an API key refuses that to its visitors unless the operator allows it."""
    for name in ("SIGHTLINE_API_KEY", "SIGHTLINE_ALLOW_MODEL_ADMIN", "SIGHTLINE_LOGIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIGHTLINE_DEVICE", "cpu")
    monkeypatch.setenv("SIGHTLINE_WORKSPACE", str(tmp_path / "ws"))
    assert app.build("127.0.0.1", 7999).state.sightline.config.model_admin_open()
    assert not app.build("0.0.0.0", 7999).state.sightline.config.model_admin_open()
    monkeypatch.setenv("SIGHTLINE_ALLOW_MODEL_ADMIN", "1")
    assert app.build("0.0.0.0", 7999).state.sightline.config.model_admin_open()
