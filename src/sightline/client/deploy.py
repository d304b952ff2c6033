"""``sightline.deploy``: start a local model server in a subprocess and return a client that owns it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from sightline.client.remote import RemoteModel
from sightline.errors import DeployError


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def deploy(
    model: str = "demo/shapes",
    device: str = "auto",
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    api_key: str | None = None,
    max_batch_size: int = 8,
    startup_timeout: float = 180.0,
    **client_options: object,
) -> RemoteModel:
    """Start ``python -m sightline serve`` on this machine, wait until it is ready, and connect to it.

    The server may read this machine's files and loopback URLs (it is yours). ``with deploy(...) as m:``
    or ``m.close()`` shuts it down. A server that fails to start raises ``DeployError`` with its log tail.
    """
    port = port or _free_port(host)
    log = Path(tempfile.mkstemp(prefix="sightline-server-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "sightline", "serve", "--model", str(model), "--device", device, "--host", host,
           "--port", str(port), "--max-batch-size", str(max_batch_size), "--allow-local-paths", "--allow-private-urls",
           "--log-level", "warning"]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if api_key:
        env["SIGHTLINE_API_KEY"] = api_key
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise DeployError(f"the server for {model!r} exited with code {process.returncode} while starting:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/ready", timeout=2.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise DeployError(f"the server for {model!r} was not ready within {startup_timeout:g} s:\n{_tail(log)}")
        time.sleep(0.2)
    remote = RemoteModel(url, api_key, _process=process, **client_options)  # type: ignore[arg-type]
    remote.log_path = log  # type: ignore[attr-defined]
    return remote
