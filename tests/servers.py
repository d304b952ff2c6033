"""Real servers on loopback: uvicorn in a thread, the real demo model behind the real worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn

from sightline.models.base import Model
from sightline.models.zoo import load_model
from sightline.server import ServerConfig, create_app


class LiveServer:
    def __init__(self, app, port: int = 0) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        # proxy headers off, as server/run.py serves it: a forwarded address counts only from a trusted proxy
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", proxy_headers=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        sock = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.app.state.sightline

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture()
def start_server() -> Iterator[Callable[..., LiveServer]]:
    """Start a server with config overrides (and optionally a given model); all stopped at test end."""
    started: list[LiveServer] = []

    def start(model: Model | None = None, **overrides) -> LiveServer:  # type: ignore[no-untyped-def]
        # model admin open, as a team's own server: the tests of a public server's refusal turn it off
        config = ServerConfig(**{"device": "cpu", "allow_private_urls": True, "api_key": None, "allow_model_admin": True, **overrides})
        app = create_app(config, model=model or load_model("demo/shapes", "cpu"))
        server = LiveServer(app).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """One shared server for tests that do not change server state."""
    config = ServerConfig(device="cpu", allow_private_urls=True, api_key=None, allow_model_admin=True)
    live = LiveServer(create_app(config, model=load_model("demo/shapes", "cpu"))).start()
    yield live
    live.stop()


@pytest.fixture(scope="module", params=["plain", pytest.param("ray", marks=pytest.mark.timeout(900))])
def any_server(request: pytest.FixtureRequest) -> object:
    """The shared server (``plain``), then sightline on Ray Serve with 2 HTTP and 2 model replicas, where any
    request of a session may land on either replica (``ray``; tests/scale/cluster.py: the first test to ask
    waits for the cluster, hence the longer timeout). Either has a ``url``."""
    return request.getfixturevalue("server" if request.param == "plain" else "ray_app")
