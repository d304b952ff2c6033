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
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float, what: str) -> None:
    """Poll ``url``/ready until it answers 200; ``DeployError`` with the log tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise DeployError(f"{what} exited with code {process.returncode} while starting:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/ready", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise DeployError(f"{what} was not ready within {timeout:g} s:\n{_tail(log)}")
        time.sleep(0.2)


def start_app(port: int | None = None, env: dict[str, str] | None = None, startup_timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``app.py`` (page and API) as ``make run`` does, on a free port; returns the process and its URL."""
    port = port or _free_port("127.0.0.1")
    log = Path(tempfile.mkstemp(prefix="sightline-app-", suffix=".log")[1])
    app = Path(__file__).resolve().parents[3] / "app.py"
    full_env = {**os.environ, "GRADIO_SERVER_PORT": str(port), **(env or {})}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, str(app)], env=full_env, cwd=app.parent, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, process, log, startup_timeout, "the app")
    return process, url


def deploy(
    model: str = "demo/shapes",
    device: str = "auto",
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    api_key: str | None = None,
    max_batch_size: int = 8,
    startup_timeout: float = 180.0,
    ray: bool = False,
    replicas: int = 1,
    http_replicas: int = 1,
    **client_options: object,
) -> RemoteModel:
    """Start ``python -m sightline serve`` on this machine, wait until it is ready, and connect to it.

    ``ray=True`` serves it on a local Ray Serve cluster of its own (``sightline serve --ray``) with ``replicas``
    model replicas and ``http_replicas`` replicas of the HTTP app; closing the client shuts the cluster down.

    The server may read this machine's files and loopback URLs, and its errors carry tracebacks (it is yours). ``with deploy(...) as m:``
    or ``m.close()`` shuts it down. A server that fails to start raises ``DeployError`` with its log tail.
    """
    port = port or _free_port(host)
    log = Path(tempfile.mkstemp(prefix="sightline-server-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "sightline", "serve", "--model", str(model), "--device", device, "--host", host,
           "--port", str(port), "--max-batch-size", str(max_batch_size), "--allow-local-paths", "--allow-private-urls", "--expose-tracebacks", "--allow-model-admin",
           "--log-level", "warning"]
    if ray:
        cmd += ["--ray", "--replicas", str(replicas), "--http-replicas", str(http_replicas)]
        startup_timeout = max(startup_timeout, 600.0)  # a cluster starts, then each replica loads the model
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if api_key:
        env["SIGHTLINE_API_KEY"] = api_key
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://{host}:{port}"
    wait_until_ready(url, process, log, startup_timeout, f"the server for {model!r}")
    remote = RemoteModel(url, api_key, _process=process, **client_options)  # type: ignore[arg-type]
    remote.log_path = log  # type: ignore[attr-defined]
    return remote


# documented and shown as sightline.<name>, where users import them from
deploy.__module__ = "sightline"
