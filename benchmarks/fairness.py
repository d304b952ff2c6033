"""One client's heavy passes against another client's small requests: B's latency, unloaded and beside A.

    .venv/bin/python benchmarks/fairness.py [--rounds 3] [--requests 4] [--heavy-size 512] [--a-threads 8]

A server is started with ``sightline.deploy`` (its own process). Client A keeps ``--a-threads`` requests
in flight, each four 480x640 images at ``img_size=--heavy-size`` (the demo model's own is 256, so each pass
costs several times a normal one). Client B sends one small image at a time with the model's defaults.
Each round measures, interleaved, B's latency over ``--requests`` requests:

- ``alone``: A is idle;
- ``lanes``: A runs, with its own ``X-Sightline-Client`` token: the worker serves the two lanes in turn;
- ``one lane``: A runs and B sends A's token, so both wait in one lane, first come first served: what
  every client got before lanes.

Target: with lanes, B waits for at most the pass in flight (its median a bounded multiple of ``alone``),
well below ``one lane``, where it waits for all of A's queued passes.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import threading
import time

import httpx
from common import make_images
from PIL import Image

import sightline


def png(image) -> str:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--heavy-size", type=int, default=512)
    parser.add_argument("--a-threads", type=int, default=8)
    args = parser.parse_args()

    heavy = {"images": [{"data": png(im)} for im in make_images(4)], "settings": {"img_size": args.heavy_size}}
    small = {"images": [{"data": png(make_images(1, size=(72, 96))[0])}]}
    model = sightline.deploy("demo/shapes", device="cpu")
    url = model.url
    a_token, b_token = "client-a-benchmark", "client-b-benchmark"
    try:
        def b_latencies(token: str) -> list[float]:
            out = []
            with httpx.Client(base_url=url, timeout=600, headers={"X-Sightline-Client": token}) as http:
                for _ in range(args.requests):
                    began = time.perf_counter()
                    http.post("/v1/predict", json=small).raise_for_status()
                    out.append(time.perf_counter() - began)
            return out

        def run_a(stop: threading.Event) -> None:
            with httpx.Client(base_url=url, timeout=600, headers={"X-Sightline-Client": a_token}) as http:
                while not stop.is_set():
                    http.post("/v1/predict", json=heavy).raise_for_status()

        b_latencies(b_token)  # warm up
        results: dict[str, list[float]] = {"alone": [], "lanes": [], "one lane": []}
        for _ in range(args.rounds):
            results["alone"] += b_latencies(b_token)
            for label, token in (("lanes", b_token), ("one lane", a_token)):
                stop = threading.Event()
                threads = [threading.Thread(target=run_a, args=(stop,), daemon=True) for _ in range(args.a_threads)]
                for t in threads:
                    t.start()
                time.sleep(2.0)  # A's queue fills
                results[label] += b_latencies(token)
                stop.set()
                for t in threads:
                    t.join(600)
        alone = statistics.median(results["alone"])
        print(f"client B's latency over {args.rounds} rounds x {args.requests} requests; A: {args.a_threads} requests in flight, "
              f"4 images at img_size {args.heavy_size}")
        for label, values in results.items():
            med = statistics.median(values)
            print(f"{label:<10} median {med:8.3f} s  max {max(values):8.3f} s  median/alone {med / alone:7.1f}x")
        print(f"one lane / lanes (medians): {statistics.median(results['one lane']) / statistics.median(results['lanes']):.1f}x")
    finally:
        model.close()


if __name__ == "__main__":
    main()
