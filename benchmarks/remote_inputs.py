"""Remote vs. in-process throughput per input kind: JPEG files, PNG files, NumPy arrays, PIL images.

    .venv/bin/python benchmarks/remote_inputs.py [--images 48] [--batch-size 4] [--rounds 5]

The same 640x480 images go through ``sightline.load`` (in this process) and through a server started
with ``sightline.deploy`` (its own process, on loopback, sharing the cores), in one interleaved run so
drift in machine load hits every side alike. Arrays and PIL images travel as the client chooses for
the server (raw PPM on loopback, PNG elsewhere); ``--array-encoding png`` forces the old PNG path.
Each round runs both sides of a kind back to back, in alternating order; beside the ratio of the best and
of the median rates, each row prints the median of the per-round ratios and its 90% bootstrap interval
(``common.paired``). Target: each remote/in-process ratio >= 0.90. A last pair of sides sends ``--singles``
arrays one call each, as a demo page does (a remote call is one ``POST /v1/predict``: its round trip is in
every image): informative, with no target. Under each kind, the CPU milliseconds per image that each side
cost the machine (this process; for the remote side, this process and the server), at the median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from common import alternating, load_demo, make_images, rate_row
from PIL import Image

import sightline


def rate(model, inputs, batch_size: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    preds = model.predict(input=inputs, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    assert len(preds) == len(inputs) if isinstance(inputs, list) else True
    assert all(p.ok for p in preds), [p.error for p in preds if not p.ok][:3]
    return len(preds) / elapsed


def one_at_a_time(model, images, batch_size: int) -> float:  # type: ignore[no-untyped-def]
    """Images per second when each is its own call, as a demo page sends them (a remote one is one POST /v1/predict)."""
    start = time.perf_counter()
    for image in images:
        (pred,) = model.predict(input=image, batch_size=batch_size)
        assert pred.ok, pred.error
    return len(images) / (time.perf_counter() - start)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in processes))


def with_cpu(side: Callable[[], float], processes: list[psutil.Process], images: int, into: list[float]) -> Callable[[], float]:
    """``side``, also noting the CPU milliseconds per image that ``processes`` spent meanwhile."""
    def run() -> float:
        before = cpu_seconds(processes)
        rate = side()
        into.append((cpu_seconds(processes) - before) * 1000 / images)
        return rate
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--singles", type=int, default=8, help="arrays sent one call each (0: none)")
    parser.add_argument("--array-encoding", choices=["auto", "raw", "png"], default="auto")
    args = parser.parse_args()

    images = make_images(args.images)
    local = load_demo()
    with tempfile.TemporaryDirectory() as tmp, sightline.deploy("demo/shapes", device="cpu", max_batch_size=args.batch_size) as remote:
        if args.array_encoding != "auto":
            remote.array_encoding = args.array_encoding
        jpegs, pngs = Path(tmp) / "jpeg", Path(tmp) / "png"
        jpegs.mkdir()
        pngs.mkdir()
        for i, im in enumerate(images):
            Image.fromarray(im).save(jpegs / f"{i:04d}.jpg", quality=90)
            Image.fromarray(im).save(pngs / f"{i:04d}.png")
        pils = [Image.fromarray(im) for im in images]
        kinds = {"JPEG files": jpegs, "PNG files": pngs, "NumPy arrays": images, "PIL images": pils}
        warm = images[: args.batch_size * 2]
        local.predict(input=warm, batch_size=args.batch_size)
        remote.predict(input=warm, batch_size=args.batch_size)
        # each kind's two sides side by side; a reversed round also reverses which of the two goes first
        sides = {(kind, where): (lambda i=inputs, m=model: rate(m, i, args.batch_size))
                 for kind, inputs in kinds.items() for where, model in (("local", local), ("remote", remote))}
        singles = images[: args.singles]
        sides |= {("one at a time", where): (lambda m=model: one_at_a_time(m, singles, args.batch_size))
                  for where, model in (("local", local), ("remote", remote))} if singles else {}
        # the CPU each side costs the machine: this process, and for the server's side the server's too
        me, server = psutil.Process(), psutil.Process(remote._process.pid)  # type: ignore[attr-defined]
        cpu: dict[tuple[str, str], list[float]] = {key: [] for key in sides}
        for (kind, where), side in list(sides.items()):
            count = len(singles) if kind == "one at a time" else args.images
            sides[(kind, where)] = with_cpu(side, [me] if where == "local" else [me, server], count, cpu[(kind, where)])
        measured = alternating(args.rounds, sides)
        results = {kind: (measured[(kind, "local")], measured[(kind, "remote")]) for kind, where in sides if where == "local"}
        encoding = remote.array_encoding

    print(f"demo/shapes, {args.images} images 640x480, batch {args.batch_size}, {args.rounds} interleaved rounds; arrays sent as {encoding}")
    for kind, (in_process, over_http) in results.items():
        rate_row(f"in-process ({kind})", in_process, "img/s")
        target = "(target >= 0.90)" if kind in kinds else "(no target: a round trip in every image)"
        rate_row(f"server on loopback ({kind})", over_http, "img/s", in_process, target)
        local_cpu, remote_cpu = statistics.median(cpu[(kind, "local")]), statistics.median(cpu[(kind, "remote")])
        print(f"{'  CPU per image, median (all processes)':<44}in-process {local_cpu:5.1f} ms, remote {remote_cpu:5.1f} ms "
              f"(client + server): remote/in-process {remote_cpu / local_cpu:.3f}")


if __name__ == "__main__":
    main()
