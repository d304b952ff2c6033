"""Engine overhead: bare model forward vs. sightline's in-process engine over a folder of JPEG files.

    .venv/bin/python benchmarks/engine_throughput.py [--images 48] [--batch-size 4] [--rounds 9]

Both sides run the demo model on the same images with the same batch size and thresholds. The bare
side gets pre-decoded tensors and calls the torchvision module directly; the engine reads JPEGs from
disk, decodes them (EXIF, RGB), batches, runs the adapter, filters, compacts masks and builds
``Prediction`` objects. Target: the engine keeps >= 90% of bare throughput; one 640x480 image < 0.3 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import bare_forward, load_demo, make_images, parse_args, rate_row, row, settle, write_jpegs


def main() -> None:
    args = parse_args(__doc__, "images", 48, rounds=9)  # cheap rounds: more of them steady the median

    model = load_demo()
    images = make_images(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_jpegs(images, Path(tmp))
        bare_forward(model, images[: args.batch_size * 2], args.batch_size)  # warm-up: kernels are tuned per shape
        model.predict(input=images[: args.batch_size * 2], batch_size=args.batch_size)
        bare, engine = [], []
        for _ in range(args.rounds):  # interleaved, so drift in machine load hits both sides alike
            settle()
            bare.append(bare_forward(model, images, args.batch_size)[0])
            settle()
            start = time.perf_counter()
            preds = model.predict(input=folder, batch_size=args.batch_size)
            engine.append(len(preds) / (time.perf_counter() - start))
            assert all(p.ok for p in preds)
        single = []
        for im in images[:10]:
            start = time.perf_counter()
            model.predict(input=im)
            single.append(time.perf_counter() - start)

    print(f"demo/shapes, {args.images} images 640x480, batch {args.batch_size}, {torch.get_num_threads()} threads, {args.rounds} interleaved rounds")
    rate_row("bare model forward (pre-decoded)", bare, "img/s")
    rate_row("engine end to end (JPEG folder)", engine, "img/s", bare, "(target >= 0.90)")
    row("one 640x480 image, end to end (median)", statistics.median(single) * 1000, "ms", "target < 300")


if __name__ == "__main__":
    main()
