"""The API's latency with many open event streams: /v1/info and a small predict, with 0 and with N readers.

    .venv/bin/python benchmarks/sse_readers.py [--readers 40] [--rounds 5] [--requests 10]

A server is started with ``sightline.deploy`` (its own process). In each round, interleaved: the
latencies of ``--requests`` calls each of ``GET /v1/info`` and ``POST /v1/predict`` (one 96x72 PNG) with
no event stream open, then the same with ``--readers`` clients reading ``/v1/sessions/{id}/events`` of a
session that waits for uploads (the readers wait the whole time; the round ends by stopping it).
Target: with 40 readers the API answers within 1 s (max), about as fast as with none.
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time

import httpx
from common import make_images, settle
from PIL import Image

import sightline


def small_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(make_images(1, size=(72, 96))[0]).save(buf, format="PNG")
    return buf.getvalue()


def open_readers(url: str, sid: str, count: int) -> list[threading.Thread]:
    """``count`` threads reading the session's events; each ends when the stream ends (the session stops)."""
    connected = threading.Semaphore(0)

    def read() -> None:
        with httpx.Client(timeout=httpx.Timeout(30, read=120)) as client, client.stream("GET", f"{url}/v1/sessions/{sid}/events") as r:
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    connected.release()

    threads = [threading.Thread(target=read, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    for _ in threads:
        if not connected.acquire(timeout=60):
            raise RuntimeError("a reader did not connect within 60 s")
    return threads


def timed_calls(client: httpx.Client, png: bytes, requests: int) -> tuple[list[float], list[float]]:
    info, predict = [], []
    for _ in range(requests):
        start = time.perf_counter()
        client.get("/v1/info").raise_for_status()
        info.append(time.perf_counter() - start)
        start = time.perf_counter()
        r = client.post("/v1/predict", files=[("files", ("a.png", png, "image/png"))])
        r.raise_for_status()
        predict.append(time.perf_counter() - start)
    return info, predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()

    png = small_png()
    got: dict[int, tuple[list[float], list[float]]] = {0: ([], []), args.readers: ([], [])}
    with sightline.deploy("demo/shapes", device="cpu") as remote, httpx.Client(base_url=remote.url, timeout=60) as client:
        timed_calls(client, png, 2)  # warm-up
        for _ in range(args.rounds):  # interleaved, so drift in machine load hits both sides alike
            for readers in (0, args.readers):
                settle(0.5)
                sid = client.post("/v1/sessions", json={"total": 1}).json()["id"]
                threads = open_readers(remote.url, sid, readers)
                settle(0.5)  # every reader is in its waiting loop
                info, predict = timed_calls(client, png, args.requests)
                assert all(t.is_alive() for t in threads), "a reader ended before the calls were timed"
                client.post(f"/v1/sessions/{sid}/stop")  # ends every stream of it
                for t in threads:
                    t.join(timeout=30)
                got[readers][0].extend(info)
                got[readers][1].extend(predict)

    print(f"demo/shapes, {args.rounds} interleaved rounds x {args.requests} calls each")
    print(f"{'call':<28}{'readers':>8}{'median ms':>12}{'max ms':>10}")
    for name, k in (("GET /v1/info", 0), ("POST /v1/predict (96x72)", 1)):
        for readers in (0, args.readers):
            values = got[readers][k]
            print(f"{name:<28}{readers:>8}{statistics.median(values) * 1000:>12.1f}{max(values) * 1000:>10.1f}")


if __name__ == "__main__":
    main()
