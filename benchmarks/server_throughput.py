"""The server path: bare model vs. in-process engine vs. HTTP server via the SDK, plus latencies.

    .venv/bin/python benchmarks/server_throughput.py [--images 48] [--batch-size 4] [--rounds 5]

All three run the demo model over the same JPEG files with the same batch size. The server is started
with ``sightline.deploy`` (its own process, as a user would run it) and fed by the SDK, which uploads
the files while the server works and receives results over server-sent events.
Targets: server >= 90% of bare throughput; first result within one batch time + 100 ms; stop takes
effect within one batch time + 100 ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import bare_forward, load_demo, make_images, parse_args, rate_row, row, settle, write_jpegs

import sightline


def timed_predict(model, folder: Path, batch_size: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    preds = model.predict(input=folder, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    assert all(p.ok for p in preds), [p.error for p in preds if not p.ok][:3]
    return len(preds) / elapsed


def first_result_latency(model, folder: Path, batch_size: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    session = model.predict_detached(input=folder, batch_size=batch_size)
    session.next(timeout=60)
    latency = time.perf_counter() - start
    session.stop()
    return latency


def stop_latency(model, folder: Path, batch_size: int) -> float:  # type: ignore[no-untyped-def]
    session = model.predict_detached(input=folder, batch_size=batch_size)
    session.next(timeout=60)
    start = time.perf_counter()
    session.stop()  # returns once the server has stopped (after the batch in flight)
    latency = time.perf_counter() - start
    assert session.status().state is sightline.SessionState.STOPPED
    return latency


def main() -> None:
    args = parse_args(__doc__, "images", 48)

    local = load_demo()
    images = make_images(args.images)
    with tempfile.TemporaryDirectory() as tmp, sightline.deploy("demo/shapes", device="cpu", max_batch_size=args.batch_size) as remote:
        folder = write_jpegs(images, Path(tmp))
        bare_forward(local, images[: args.batch_size * 2], args.batch_size)  # warm-up: kernels are tuned per shape
        local.predict(input=images[: args.batch_size * 2], batch_size=args.batch_size)
        remote.predict(input=images[: args.batch_size * 2], batch_size=args.batch_size)
        bare, engine, server, batch_time = [], [], [], []
        for _ in range(args.rounds):  # interleaved, so drift in machine load hits all sides alike
            settle()
            ips, per_batch = bare_forward(local, images, args.batch_size)
            bare.append(ips)
            batch_time.append(per_batch)
            settle()
            engine.append(timed_predict(local, folder, args.batch_size))
            settle()
            server.append(timed_predict(remote, folder, args.batch_size))
        first = [first_result_latency(remote, folder, args.batch_size) for _ in range(args.rounds)]
        stops = [stop_latency(remote, folder, args.batch_size) for _ in range(args.rounds)]

    bt = min(batch_time)
    print(f"demo/shapes, {args.images} images 640x480, batch {args.batch_size}, {args.rounds} interleaved rounds")
    rate_row("bare model forward (pre-decoded)", bare, "img/s")
    rate_row("in-process engine (JPEG folder)", engine, "img/s", bare)
    rate_row("HTTP server via the SDK (JPEG folder)", server, "img/s", bare, "(target >= 0.90)")
    row("one batch of the bare model (best)", bt * 1000, "ms")
    row("time to first result of a session", statistics.median(first) * 1000, "ms", f"target <= {bt * 1000 + 100:.0f} (batch + 100)")
    row("stop latency", statistics.median(stops) * 1000, "ms", f"target <= {bt * 1000 + 100:.0f} (batch + 100)")


if __name__ == "__main__":
    main()
