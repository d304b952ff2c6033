"""How fast the SDK reads a result's masks: COCO RLE from the wire into a ``CompactMask``.

    PYTHONPATH=src .venv/bin/python benchmarks/mask_reading.py [--images 24] [--rounds 7] [--irregular]

The masks are the demo model's own, on the benchmark's 640×480 images, as a server sends them (compressed
COCO RLE, one per object). Each round reads every image's masks once with sightline's reader
(``geometry.rle_to_masks``: one byte plane per mask, cropped and re-coded in NumPy) and once with
supervision's ``CompactMask.from_coco_rle`` (run by run), in alternating order; both must give the same
masks. Target: the reader at least 2× faster than supervision's (session 8 measured 2.3–2.9 ms against
0.8–1.0 ms per image inside a remote run). ``--irregular`` reads ragged synthetic masks instead, whose
long RLE strings (about 2,300 characters) show the cost of parsing the compressed counts.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import load_demo, make_images

from sightline.geometry import _rle_to_masks_by_runs, mask_to_rle, masks_to_rle, rle_to_masks


def wire_masks(count: int) -> list[tuple[list[dict], tuple[int, int]]]:
    """Each image's masks as the server's JSON holds them, and the image's (height, width)."""
    model = load_demo()
    images = make_images(count)
    out = []
    for image, pred in zip(images, model.predict(images), strict=True):
        rles = masks_to_rle(pred.detections.mask)
        assert rles, "the demo model found no masks: nothing to measure"
        out.append((rles, image.shape[:2]))
    return out


def irregular_masks(count: int, per_image: int = 4) -> list[tuple[list[dict], tuple[int, int]]]:
    """Masks with ragged outlines, as a real segmentation model draws them (thousands of characters of RLE
    each, where the demo model's smooth shapes take about 140): blobs whose radius wobbles pixel by pixel."""
    rng = np.random.default_rng(5)
    height, width = 480, 640
    yy, xx = np.mgrid[:height, :width]
    out = []
    for _ in range(count):
        rles = []
        for _ in range(per_image):
            cx, cy, r = rng.integers(100, 540), rng.integers(100, 380), rng.integers(30, 90)
            wobble = 1 + 0.15 * np.sin(7 * np.arctan2(yy - cy, xx - cx)) + 0.05 * rng.standard_normal((height, width))
            rles.append(mask_to_rle(np.hypot(yy - cy, xx - cx) < r * wobble))
        out.append((rles, (height, width)))
    return out


def timed(read, wire) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    got = [read(rles, shape) for rles, shape in wire]
    return (time.perf_counter() - start) / len(wire), got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--irregular", action="store_true", help="ragged synthetic masks instead of the demo model's")
    args = parser.parse_args()
    wire = irregular_masks(args.images) if args.irregular else wire_masks(args.images)
    objects = sum(len(rles) for rles, _ in wire)
    chars = np.mean([len(r["counts"]) for rles, _ in wire for r in rles])
    ours: list[float] = []
    theirs: list[float] = []
    for k in range(args.rounds):  # interleaved, and the order alternates so neither always runs warm
        pair = [("ours", rle_to_masks), ("theirs", _rle_to_masks_by_runs)]
        for name, read in pair if k % 2 == 0 else pair[::-1]:
            took, got = timed(read, wire)
            (ours if name == "ours" else theirs).append(took)
            if name == "ours":
                mine = got
            else:
                reference = got
        for a, b in zip(mine, reference, strict=True):  # the same pixels, or the speed means nothing
            assert np.array_equal(a.to_dense(), b.to_dense()), "the two readers disagree"
    what = "ragged synthetic masks" if args.irregular else "demo/shapes masks"
    print(f"{what}, {args.images} images 640x480, {objects / args.images:.1f} objects per image ({chars:.0f} RLE characters each), "
          f"{args.rounds} interleaved rounds")
    print(f"{'supervision from_coco_rle (run by run)':<42}{min(theirs) * 1e3:7.2f} ms/img best  {statistics.median(theirs) * 1e3:7.2f} median")
    print(f"{'sightline rle_to_masks (byte plane)':<42}{min(ours) * 1e3:7.2f} ms/img best  {statistics.median(ours) * 1e3:7.2f} median")
    speedups = [t / o for t, o in zip(theirs, ours, strict=True)]
    print(f"{'speed-up (round by round)':<42}{max(speedups):7.2f}x best      {statistics.median(speedups):7.2f}x median  (target >= 2)")


if __name__ == "__main__":
    main()
