"""Engine overhead: bare model forward vs. sightline's end-to-end engine over a folder of JPEG files.

    .venv/bin/python benchmarks/engine_throughput.py [--images 48] [--batch-size 4]

Both sides run the same demo model on the same images with the same batch size. The bare side gets
pre-decoded tensors and calls the torchvision module directly; the engine side reads JPEG files from
disk, decodes them (EXIF, RGB), batches, runs the adapter, filters and builds ``Prediction`` objects.
Target: the engine keeps >= 90% of the bare forward throughput.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import sightline  # noqa: E402
from sightline.models.demo.synthetic import make_sample  # noqa: E402


def bare_forward(module: torch.nn.Module, images: list[np.ndarray], batch_size: int) -> float:
    tensors = [torch.from_numpy(im.copy()).permute(2, 0, 1).float().div(255) for im in images]
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(tensors), batch_size):
            module(tensors[i : i + batch_size])
    return len(images) / (time.perf_counter() - start)


def engine(model: sightline.LocalModel, folder: Path, batch_size: int) -> float:
    start = time.perf_counter()
    preds = model.predict(input=folder, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    assert all(p.ok for p in preds)
    return len(preds) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    model = sightline.load("demo/shapes", device="cpu")
    module = model.model.module
    settings = sightline.PredictSettings().resolved(model.model.default_settings)
    model.model._configure(settings)  # the bare side runs with the same thresholds as the engine

    images = [make_sample(99, i, size=(480, 640)).image for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, im in enumerate(images):
            Image.fromarray(im).save(folder / f"{i:04d}.jpg", quality=90)
        model.predict(input=images[:2])  # warm-up
        bare, eng = [], []
        for _ in range(args.rounds):  # interleaved, so drift in machine load hits both sides alike
            bare.append(bare_forward(module, images, args.batch_size))
            eng.append(engine(model, folder, args.batch_size))
        single = []
        for im in images[:10]:
            t = time.perf_counter()
            model.predict(input=im)
            single.append(time.perf_counter() - t)

    b, e = statistics.median(bare), statistics.median(eng)
    print(f"demo/shapes on {args.images} images of 640x480, batch {args.batch_size}, {torch.get_num_threads()} threads, median of {args.rounds}")
    print(f"{'bare model forward':<34}{b:8.2f} img/s")
    print(f"{'engine end-to-end (JPEG folder)':<34}{e:8.2f} img/s")
    print(f"{'ratio engine / bare':<34}{e / b:8.3f}   (target >= 0.90)")
    print(f"{'single 640x480 image, end to end':<34}{statistics.median(single) * 1000:8.0f} ms   (target < 300 ms)")


if __name__ == "__main__":
    main()
