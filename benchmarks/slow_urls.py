"""Slow URL hosts vs. everybody else: /health and a normal predict with 64 slow-URL requests in flight.

    .venv/bin/python benchmarks/slow_urls.py [--rounds 10] [--slow 64] [--src PATH]

The server runs in its own process (the demo model, private URLs allowed so it may fetch from the
loopback host). A loopback host in this process trickles one byte every 0.5 s and never finishes.
Each round first measures /health and a predict of one uploaded JPEG with nothing else going on,
then puts ``--slow`` predict requests for the trickling URL in flight, waits until the server has
opened at least 8 of those fetches, and measures the same two again; then the host hangs up and the
slow requests end before the next round. A request that takes longer than ``--give-up`` seconds
counts as that long (reported as ">="). ``--src`` points at another checkout's ``src`` (to measure a
version before a change).
Target: with the slow requests in flight, /health and predict answer within 1 s.
"""

from __future__ import annotations

import argparse
import http.server
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import make_images
from PIL import Image

SRC = Path(__file__).resolve().parents[1] / "src"
SERVER = """
import uvicorn
from sightline.server import ServerConfig, create_app
config = ServerConfig(device="cpu", allow_private_urls=True, api_key=None, url_timeout_s={timeout})
uvicorn.run(create_app(config), host="127.0.0.1", port={port}, log_level="warning")
"""


class Trickle(http.server.ThreadingHTTPServer):
    """Answers every GET with headers, then one byte every 0.5 s until ``hang_up`` is set."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TrickleHandler)
        self.hang_up = threading.Event()
        self.opened = 0


class TrickleHandler(http.server.BaseHTTPRequestHandler):
    server: Trickle

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.opened += 1
        hang_up = self.server.hang_up
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        while not hang_up.wait(0.5):
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:
                return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(src: Path, timeout: float, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVER.format(timeout=timeout, port=port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()[-2000:]
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


def timed(call, give_up: float) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    try:
        r = call(give_up)
        assert r.status_code == 200, r.text
    except httpx.TimeoutException:
        return give_up
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--slow", type=int, default=64)
    parser.add_argument("--give-up", type=float, default=10.0)
    parser.add_argument("--src", type=Path, default=SRC)
    args = parser.parse_args()

    buf = io.BytesIO()
    Image.fromarray(make_images(1)[0]).save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    trickle = Trickle()
    threading.Thread(target=trickle.serve_forever, daemon=True).start()  # a daemon: ends with this script
    slow_url = f"http://127.0.0.1:{trickle.server_address[1]}/slow.jpg"

    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(args.src, timeout=60.0, log=Path(tmp) / "server.log")
        client = httpx.Client()
        try:
            health = lambda t: client.get(f"{url}/health", timeout=t)  # noqa: E731
            predict = lambda t: client.post(f"{url}/v1/predict", files=[("files", ("a.jpg", jpeg, "image/jpeg"))], timeout=t)  # noqa: E731
            predict(60)  # warm-up
            results: dict[str, list[float]] = {k: [] for k in ("health idle", "predict idle", "health loaded", "predict loaded")}
            for _ in range(args.rounds):  # interleaved: machine drift hits both sides alike
                results["health idle"].append(timed(health, args.give_up))
                results["predict idle"].append(timed(predict, args.give_up))
                trickle.hang_up = threading.Event()
                trickle.opened = 0
                slow = [threading.Thread(target=lambda: httpx.post(f"{url}/v1/predict", json={"urls": [slow_url]}, timeout=120), daemon=True) for _ in range(args.slow)]
                for t in slow:
                    t.start()
                end = time.monotonic() + 30
                while trickle.opened < 8 and time.monotonic() < end:
                    time.sleep(0.05)
                time.sleep(1.0)  # the rest reach the server
                results["health loaded"].append(timed(health, args.give_up))
                results["predict loaded"].append(timed(predict, args.give_up))
                trickle.hang_up.set()
                for t in slow:
                    t.join(timeout=120)
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=30)

    print(f"demo/shapes, one 640x480 JPEG per predict, {args.slow} slow-URL requests in flight when loaded, {args.rounds} interleaved rounds")
    print(f"server code: {args.src}")
    for label, values in results.items():
        capped = " (>= give-up)" if max(values) >= args.give_up else ""
        print(f"{label:<20} median {statistics.median(values) * 1000:8.1f} ms   max {max(values) * 1000:8.1f} ms{capped}")
    print("target: /health and predict within 1 s while loaded")


if __name__ == "__main__":
    main()
