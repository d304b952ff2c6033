"""URLs a server is asked to fetch: every redirect hop checked, the checked address pinned, special IPv6
forms refused, one deadline and a size cap per fetch, and slow hosts kept off the threads that serve
everyone else.

Nothing here leaves loopback. A "public" host is a name the test's own resolver answers with a public
address, and a connection to any non-loopback address is recorded and handed to the loopback host
server instead (or refused), so the public address only ever exists inside this process.
"""

from __future__ import annotations

import base64
import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sightline.errors import InputError
from sightline.server.security import check_url

PUBLIC_IP = "93.184.216.34"  # never dialled: the fake network below reroutes it to loopback
TRICKLE_BYTES = 100  # at one byte per TRICKLE_EVERY_S, far longer than any deadline used here
TRICKLE_EVERY_S = 0.5


class _Hosts(http.server.ThreadingHTTPServer):
    daemon_threads = True
    image: bytes
    stop: threading.Event
    trickles: int = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Hosts

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path == "/img.png":
            self._send(200, self.server.image, "image/png")
        elif parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path == "/trickle":
            self.server.trickles += 1
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(TRICKLE_BYTES))
            self.end_headers()
            for _ in range(TRICKLE_BYTES):
                if self.server.stop.wait(TRICKLE_EVERY_S):
                    return
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
        elif parts.path == "/chunked":  # 200 KB with no Content-Length: only counting can stop it
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(50):
                    self.wfile.write(b"1000\r\n" + b"\0" * 4096 + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def hosts(sample_dir: Path) -> Iterator[_Hosts]:
    """A loopback host: /img.png, /redirect?to=URL, /loop, /trickle (one byte every 0.5 s), /chunked."""
    server = _Hosts(("127.0.0.1", 0), _Handler)
    server.image = (sample_dir / "img_00.png").read_bytes()
    server.stop = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop.set()  # trickling handlers return at once
    server.shutdown()
    server.server_close()


def _port(hosts: _Hosts) -> int:
    return hosts.server_address[1]


@dataclass
class FakeNetwork:
    """Names ending in ``.test`` resolve from ``answers`` (one list per lookup, the last one repeats);
    every connection is recorded; non-loopback ones go to the loopback host server instead."""

    host_port: int
    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    connections: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture()
def network(monkeypatch: pytest.MonkeyPatch, hosts: _Hosts) -> FakeNetwork:
    fake = FakeNetwork(_port(hosts))
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith(".test"):
            fake.lookups.append(name)
            queue = fake.answers[name]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            out = []
            for a in addresses:
                family = socket.AF_INET6 if ":" in a else socket.AF_INET
                out.append((family, socket.SOCK_STREAM, 6, "", (a, port) if family == socket.AF_INET else (a, port, 0, 0)))
            return out
        try:
            ipaddress.ip_address(name.strip("[]").split("%")[0])
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "no real DNS in tests") from None
        return real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address, timeout=None, source_address=None, **kwargs):  # type: ignore[no-untyped-def]
        host, port = address[0], address[1]
        ip = getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
        fake.connections.append((ip, port))
        if ipaddress.ip_address(ip).is_loopback:
            return real_connect((ip, port), timeout, source_address, **kwargs)
        if port != fake.host_port:
            raise ConnectionRefusedError(f"the test network refuses {ip}:{port}")
        return real_connect(("127.0.0.1", port), timeout)  # stands in for the public host; nothing leaves loopback

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return fake


def _dialled(network: FakeNetwork, live) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """Connections the server made (not the test's own requests to the server)."""
    return [(ip, port) for ip, port in network.connections if port != live.port]


def _predict_urls(live, urls: list[str], timeout: float = 60) -> list[dict]:  # type: ignore[no-untyped-def]
    r = httpx.post(f"{live.url}/v1/predict", json={"urls": urls}, timeout=timeout)
    assert r.status_code == 200, r.text
    return r.json()["predictions"]


# --- addresses ----------------------------------------------------------------------------------

REFUSED = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
    "255.255.255.255", "::1", "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::7f00:1", "::a9fe:a9fe",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::808:808", "2002:7f00:1::1",
    "2002:a9fe:a9fe::1", "2002:c0a8:101::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fc00::1",
    "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "ff0e::1", "2001:db8::1", "100::1",
]
PUBLIC = ["8.8.8.8", PUBLIC_IP, "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_special_addresses_are_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InputError, match="private or loopback address"):
        check_url(f"http://{host}/img.png", allow_private=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    check_url(f"http://{host}/img.png", allow_private=False)
    check_url(f"http://{host}/img.png", allow_private=True)


# --- redirects and rebinding ----------------------------------------------------------------------


@pytest.mark.parametrize("inside", ["http://127.0.0.1:{port}/img.png", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:7f00:1]:{port}/img.png", "http://meta.test/"])
def test_public_url_redirecting_inside_is_refused(start_server, network, inside: str) -> None:
    live = start_server(allow_private_urls=False)
    port = network.host_port
    network.answers["public.test"] = [[PUBLIC_IP]]
    network.answers["meta.test"] = [["169.254.169.254"]]
    target = inside.format(port=port)
    (pred,) = _predict_urls(live, [f"http://public.test:{port}/redirect?to={target}"])
    assert pred["error"] and "redirects to" in pred["error"] and "which is refused" in pred["error"], pred
    assert "private or loopback address" in pred["error"]
    assert _dialled(network, live) == [(PUBLIC_IP, port)]  # only the first hop was dialled


def test_every_hop_is_checked_and_public_redirects_work(start_server, network) -> None:
    live = start_server(allow_private_urls=False)
    port = network.host_port
    network.answers["public.test"] = [[PUBLIC_IP]]
    two_hops = f"http://public.test:{port}/redirect?to=http://public.test:{port}/redirect?to=/img.png"
    loop = f"http://public.test:{port}/loop"
    ok, looping = _predict_urls(live, [two_hops, loop])
    assert ok["error"] is None and ok["image_url"] == two_hops
    assert "more than 5 redirects" in looping["error"] and loop in looping["error"]
    assert {ip for ip, _ in _dialled(network, live)} == {PUBLIC_IP}


def test_rebinding_name_connects_to_the_checked_address(start_server, network) -> None:
    """The name answers public to the check and loopback to any later lookup: one lookup per hop, and
    the connection goes to the address that was checked."""
    live = start_server(allow_private_urls=False)
    port = network.host_port
    network.answers["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    (pred,) = _predict_urls(live, [f"http://rebind.test:{port}/img.png"])
    assert network.lookups == ["rebind.test"]
    assert _dialled(network, live) == [(PUBLIC_IP, port)]
    assert pred["error"] is None  # served by the stand-in for the public host


def test_session_url_items_check_every_hop(start_server, network) -> None:
    live = start_server(allow_private_urls=False)
    port = network.host_port
    network.answers["public.test"] = [[PUBLIC_IP]]
    url = f"http://public.test:{port}/redirect?to=http://127.0.0.1:{port}/img.png"
    sid = httpx.post(f"{live.url}/v1/sessions", json={"urls": [url]}).json()["id"]
    page = httpx.get(f"{live.url}/v1/sessions/{sid}/results", params={"wait": 30}, timeout=60).json()
    (result,) = page["results"]
    assert "redirects to" in result["error"] and "private or loopback address" in result["error"]


def test_callback_is_checked_again_when_sent(start_server, network) -> None:
    """A callback name that was public when the session was created and loopback when it ends is not called."""
    live = start_server(allow_private_urls=False)
    port = network.host_port
    network.answers["public.test"] = [[PUBLIC_IP]]
    network.answers["cb.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    body = {"urls": [f"http://public.test:{port}/img.png"], "callback": {"url": f"http://cb.test:{port}/done"}}
    r = httpx.post(f"{live.url}/v1/sessions", json=body)
    assert r.status_code == 201, r.text
    _wait_for(lambda: network.lookups.count("cb.test") >= 2, timeout=30)
    time.sleep(0.5)  # a connection, if one were made, follows the lookup at once
    assert ("127.0.0.1", port) not in _dialled(network, live)


# --- deadline and size ----------------------------------------------------------------------------


def test_trickling_host_fails_at_the_deadline(start_server, hosts) -> None:
    live = start_server(url_timeout_s=2)
    url = f"http://127.0.0.1:{_port(hosts)}/trickle"
    (pred,) = _predict_urls(live, [url], timeout=30)
    assert url in pred["error"] and "no complete answer within 2 s" in pred["error"], pred


def test_size_cap_counts_chunked_bytes(start_server, hosts) -> None:
    live = start_server(max_url_bytes=10_000)
    url = f"http://127.0.0.1:{_port(hosts)}/chunked"
    (pred,) = _predict_urls(live, [url])
    assert url in pred["error"] and "over the limit of 10,000 bytes" in pred["error"], pred


def test_url_limits_are_published(start_server) -> None:
    limits = httpx.get(f"{start_server(url_timeout_s=7, url_fetch_workers=3).url}/v1/info").json()["limits"]
    assert limits["url_timeout_s"] == 7 and limits["url_fetch_workers"] == 3
    assert {"url_fetch_queue", "max_url_bytes"} <= set(limits)


def test_local_fetch_keeps_deadline_and_cap(hosts) -> None:
    """The SDK's own fetches may reach private hosts, but still end at the deadline and the cap."""
    from sightline.inputs.urls import FetchError, fetch_bytes

    base = f"http://127.0.0.1:{_port(hosts)}"
    assert fetch_bytes(f"{base}/img.png") == hosts.image
    with pytest.raises(FetchError, match="no complete answer within 1.5 s"):
        fetch_bytes(f"{base}/trickle", timeout=1.5)
    with pytest.raises(FetchError, match="over the limit of 5,000 bytes"):
        fetch_bytes(f"{base}/chunked", max_bytes=5_000)
    with pytest.raises(FetchError, match="redirects to 'file:///etc/passwd'"):
        fetch_bytes(f"{base}/redirect?to=file:///etc/passwd")


# --- slow hosts and everybody else ---------------------------------------------------------------


def _wait_for(condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_pool_full_refuses_with_429(start_server, hosts, sample_dir) -> None:
    live = start_server(url_fetch_workers=1, url_fetch_queue=0, url_timeout_s=30)
    slow = f"http://127.0.0.1:{_port(hosts)}/trickle"
    first = threading.Thread(target=lambda: httpx.post(f"{live.url}/v1/predict", json={"urls": [slow]}, timeout=60), daemon=True)
    first.start()
    _wait_for(lambda: hosts.trickles >= 1)
    r = httpx.post(f"{live.url}/v1/predict", json={"urls": [f"http://127.0.0.1:{_port(hosts)}/img.png"]}, timeout=30)
    assert r.status_code == 429 and "too many URL fetches in flight" in r.json()["error"]["message"], r.text
    data = base64.b64encode((sample_dir / "img_00.png").read_bytes()).decode()
    mixed = httpx.post(f"{live.url}/v1/predict", json={"images": [{"data": data}], "urls": [slow]}, timeout=30)
    image, url = mixed.json()["predictions"]
    assert image["error"] is None and "too many URL fetches in flight" in url["error"]
    hosts.stop.set()
    first.join(timeout=30)


def test_slow_urls_do_not_stall_health_or_predict(start_server, hosts, sample_dir) -> None:
    """64 requests wait on a trickling host; /health and a predict of an uploaded image still answer,
    before any of the slow requests has finished."""
    live = start_server(url_timeout_s=60)
    slow = f"http://127.0.0.1:{_port(hosts)}/trickle"
    finished: list[int] = []

    def slow_request() -> None:
        try:
            httpx.post(f"{live.url}/v1/predict", json={"urls": [slow]}, timeout=120)
        finally:
            finished.append(1)

    threads = [threading.Thread(target=slow_request, daemon=True) for _ in range(64)]
    for t in threads:
        t.start()
    _wait_for(lambda: hosts.trickles >= 8)  # the URL pool (8 workers by default) is saturated
    time.sleep(1.0)  # let the rest of the 64 reach the server
    assert httpx.get(f"{live.url}/health", timeout=60).status_code == 200
    files = [("files", ("img_00.png", (sample_dir / "img_00.png").read_bytes(), "image/png"))]
    r = httpx.post(f"{live.url}/v1/predict", files=files, timeout=60)
    assert r.status_code == 200 and r.json()["predictions"][0]["error"] is None
    assert not finished, f"{len(finished)} slow requests finished before /health and predict answered"
    hosts.stop.set()  # the trickling host hangs up: every slow request ends now
    for t in threads:
        t.join(timeout=60)
