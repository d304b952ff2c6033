"""One local Ray cluster for the whole test run (``ray_cluster``), shared by the Ray Data jobs' tests and
``ray_app``: sightline on Ray Serve with 2 HTTP and 2 model replicas, sessions on PostgreSQL (database
``rayserve`` on the test server, made when missing), files in a shared temp folder.
Each is started when a test first asks for it (a minute or more on a loaded 2-core machine) and ended with
the run: Ray does not come back in one process after ``ray.shutdown()`` as cheaply as it starts."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from sightline.server.config import ServerConfig
from tests.workspace.conftest import own_database

# the first test to ask for the cluster waits for it: minutes on a loaded 2-core machine (pytest-timeout's 300 s is short)
RAY_TIMEOUT_S = 900
LEASE_S = 3.0  # a killed HTTP replica's sessions are taken over this long after its last renewal
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RayApp:
    url: str
    db_url: str
    blobs: Path  # where its workspace keeps blobs (a test's Workspace on db_url must name the same folder)

    def owner_pid(self, sid: str) -> int | None:
        """The pid of the HTTP replica running session ``sid`` (its ``owner`` is ``host:pid:nonce``)."""
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as c:
                owner = c.execute(text("SELECT owner FROM server_sessions WHERE id = :sid"), {"sid": sid}).scalar()
        finally:
            engine.dispose()
        return int(owner.split(":")[1]) if owner else None

    def model_replica_pid(self) -> int:
        from ray import serve

        from sightline.server.ray_serve import deployment_name

        handle = serve.get_deployment_handle(deployment_name("demo/shapes"), app_name="sightline")
        # on a thread of its own: Serve refuses sync calls on a thread with a running asyncio loop, which an
        # earlier test in the run (Playwright's sync API) can leave on this one
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(lambda: handle.info.remote().result(timeout_s=60)["pid"]).result(timeout=90)


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)  # kill -9: no shutdown hook runs


def _blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "ray-blobs"
    folder.mkdir(exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local cluster of 8 logical CPUs (on 2 cores: Serve's replicas and a job's actors mostly wait) for the
    run; yields its address. Workers import sightline and the test models from this checkout."""
    import ray

    from sightline.server import ray_ingress

    # a workspace that names no blob store (ray_app's) keeps its blobs here, not under the user's home
    env = {"PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "SIGHTLINE_BLOBS": str(_blobs(tmp_path_factory))}
    for attempt in range(3):  # Ray gives its processes 30 s to start: not always enough on a loaded 2-core machine
        try:
            # the Serve settings (and ports of its own) that `sightline serve --ray` gives its clusters
            settings = ray_ingress.init(address="local", num_cpus=8, include_dashboard=False, logging_level=logging.WARNING,
                                        log_to_driver=False, runtime_env={"env_vars": env})
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
        settings.close()


@pytest.fixture(scope="session")
def ray_app(ray_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayApp]:
    from ray import serve

    from sightline.server import ray_serve
    from tests.scale.models import slow_demo

    db_url = own_database("rayserve")  # skips without PostgreSQL: HTTP replicas share sessions through it
    shared = tmp_path_factory.mktemp("ray-shared")
    config = ServerConfig(device="cpu", allow_private_urls=True, api_key=None, workspace=db_url, state_dir=str(shared / "state"),
                          session_lease_s=LEASE_S)
    port = _free_port()
    options = ray_serve.RayOptions(replicas=2, http_replicas=2, num_cpus=1, http_num_cpus=0.5)
    started = time.monotonic()
    try:
        ray_serve.start(config, ["demo/shapes"], options, port=port, loader=slow_demo)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/ready", timeout=30).status_code == 200
        logging.getLogger("tests").info("Ray Serve app ready in %.0f s", time.monotonic() - started)
        yield RayApp(url, db_url, _blobs(tmp_path_factory))
    finally:
        serve.delete("sightline")
