"""How fast a server reads the raw pixels the SDK sends to a loopback server: one copy against Pillow.

    PYTHONPATH=src .venv/bin/python benchmarks/raw_pixels.py [--images 24] [--rounds 7]

The images are the benchmark's 640×480 ones, written as the SDK writes them for a server on the same
machine (``inputs.images.raw_rgb_bytes``: a binary PPM). Each round reads every image once with
``decode_image_bytes`` (which takes that exact form with one copy) and once with ``decode_with_pillow`` (the
server's path before: Pillow's decode, the EXIF check, ``np.asarray``), in alternating order; both must give the same pixels. The time is on the cores the
server's model shares. Target: the reader at least 3× faster than the path before.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from common import make_images, parse_args

from sightline.inputs.images import decode_image_bytes, decode_with_pillow, raw_rgb_bytes


def timed(read, wire: list[bytes]) -> tuple[float, list[np.ndarray]]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    got = [read(data) for data in wire]
    return (time.perf_counter() - start) / len(wire), got


def main() -> None:
    args = parse_args(__doc__, count=24, rounds=7)
    wire = [raw_rgb_bytes(im) for im in make_images(args.images)]
    times: dict[str, list[float]] = {"sightline": [], "pillow": []}
    for k in range(args.rounds):  # interleaved, and the order alternates so neither always runs warm
        pair = [("sightline", decode_image_bytes), ("pillow", decode_with_pillow)]
        results = {}
        for name, read in pair if k % 2 == 0 else pair[::-1]:
            took, results[name] = timed(read, wire)
            times[name].append(took)
        assert all((a == b).all() for a, b in zip(results["sightline"], results["pillow"], strict=True))
    ours, theirs = statistics.median(times["sightline"]), statistics.median(times["pillow"])
    print(f"{args.images} images 640x480 as raw PPM, {args.rounds} interleaved rounds (medians)")
    print(f"{'decode_image_bytes (one copy)':<44}{ours * 1000:9.3f} ms/img")
    print(f"{'decode_with_pillow (the path before)':<44}{theirs * 1000:9.3f} ms/img")
    print(f"{'the path before / decode_image_bytes':<44}{theirs / ours:9.1f}x     (target >= 3x)")


if __name__ == "__main__":
    main()
