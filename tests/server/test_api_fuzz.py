"""Property-based API testing: schemathesis generates requests from ``/openapi.json``; no answer is a 5xx.

One live server (with a workspace, so its routes are exercised too) takes a bounded number of valid
and invalid requests per operation, derived deterministically from the schema. The server refuses
private URLs, and the test process refuses every connection and name lookup that leaves loopback,
so a generated URL can never reach the network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, settings

import sightline
from sightline.models.zoo import load_model
from sightline.server import ServerConfig, create_app
from tests.servers import LiveServer

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

EXAMPLES_PER_OPERATION = 25  # ~40 operations: about a minute on two loaded cores
REQUEST_TIMEOUT_S = 30  # a request that takes longer is a hang, and fails the test

# Operations left out, each with its reason:
EXCLUDED = [
    ("POST", "/v1/models/unload_all"),  # empties the server for every later operation (tested in test_http_api.py)
]


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class LoopbackOnly:
    """Patches the socket module so nothing in this process can resolve or connect beyond loopback.

    Name lookups of any other host fail at once (as they would on a machine without DNS), and a
    connection to any other address is refused and recorded: the fuzzer's URLs never leave the host.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.refused: list[str] = []
        real_getaddrinfo, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

        def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
            name = host.decode() if isinstance(host, bytes) else str(host)
            if host is not None and not _is_loopback(name):
                self.refused.append(f"lookup {name[:80]}")
                raise socket.gaierror(socket.EAI_NONAME, "refused by the fuzz test: only loopback")
            return real_getaddrinfo(host, *args, **kwargs)

        def check(address) -> None:  # type: ignore[no-untyped-def]
            if isinstance(address, tuple) and not _is_loopback(str(address[0])):
                self.refused.append(f"connect {address[0]}")
                raise ConnectionRefusedError(f"refused by the fuzz test: {address[0]} is not loopback")

        def connect(sock, address):  # type: ignore[no-untyped-def]
            check(address)
            return real_connect(sock, address)

        def connect_ex(sock, address):  # type: ignore[no-untyped-def]
            check(address)
            return real_connect_ex(sock, address)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, sample_dir) -> Iterator[LiveServer]:
    """A public-style server (no local paths, no private URLs) with a small workspace."""
    with pytest.MonkeyPatch.context() as mp:
        guard = LoopbackOnly(mp)
        ws = sightline.Workspace(tmp_path_factory.mktemp("fuzz-ws"))
        project = ws.create_project("Shapes")
        dataset = ws.create_dataset(project.id, "train")
        for i in range(2):
            ws.add_image(dataset.id, sample_dir / f"img_{i:02d}.png")
        config = ServerConfig(device="cpu", api_key=None, allow_private_urls=False, allow_local_paths=False, url_timeout_s=2.0)
        live = LiveServer(create_app(config, model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
        live.guard = guard  # type: ignore[attr-defined]
        yield live
        live.stop()


def _schema():  # type: ignore[no-untyped-def]
    """The schema the server serves at /openapi.json (built without a model; checked against the live one below).

    Loaded at collection so each operation is its own test (schemathesis's fixture-based loader reads a
    private pytest attribute that pytest 9 no longer has)."""
    document = create_app(ServerConfig(api_key=None), load_default=False).openapi()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.generation.update(modes=list(GenerationMode), deterministic=True, database="none")
    for method, path in EXCLUDED:
        loaded = loaded.exclude(method=method, path=path)
    return loaded


schema = _schema()


def test_the_fuzzed_schema_is_the_served_one(fuzz_server):
    served = httpx.get(f"{fuzz_server.url}/openapi.json").json()
    assert served == create_app(ServerConfig(api_key=None), load_default=False).openapi()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, fuzz_server):  # type: ignore[no-untyped-def]
    case.call_and_validate(base_url=fuzz_server.url, checks=[not_a_server_error], timeout=REQUEST_TIMEOUT_S)


def test_no_traffic_left_loopback(fuzz_server):
    """Generated URLs were refused before any connection; the guard saw no connection attempt outside."""
    assert not [r for r in fuzz_server.guard.refused if r.startswith("connect")], fuzz_server.guard.refused
