"""Scale-out (c): a project run as a Ray Data job against the same run as a single-process session.

    PYTHONPATH=src .venv/bin/python benchmarks/scale_out_data.py [--images 64] [--rounds 2] [--concurrency 1,2]

One local Ray cluster (this machine's CPUs); a workspace project of ``--images`` synthetic 480×640 JPEGs
(the demo model's kind of picture) in SQLite, or in ``--database`` (a PostgreSQL URL). In interleaved
rounds, each run predicts the whole project with the demo model and uploads with ``iou_merge`` into a
fresh copy of it: the single-process session (``engine="local"``), then a Ray Data job per actor count.
A job's time includes starting its actors (each loads the model) but not starting the cluster, which a
real deployment keeps running. Part of ``benchmarks/scale_out.py`` (the Ray Serve parts (a), (b) are there).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from common import make_images, rate_row, row, settle

import sightline
from sightline.raydata.job import RayOptions, ensure_ray
from sightline.workspace.store import Workspace


def _project(ws: Workspace, name: str, jpegs: list[bytes]) -> int:
    from sightline.inputs.images import decode_image_bytes

    project = ws.create_project(name)
    dataset = ws.create_dataset(project.id, "images")
    with ws.transaction() as s:
        for k, data in enumerate(jpegs):
            h, w = decode_image_bytes(data).shape[:2]
            ws.new_image_row(s, dataset.id, f"{k:05d}.jpg", w, h, ws.blobs.put(data), len(data))
    return project.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--concurrency", default="1,2", help="model actor counts to measure")
    parser.add_argument("--database", default=None, help="a PostgreSQL URL (default: SQLite in a temp folder)")
    args = parser.parse_args()
    counts = [int(c) for c in args.concurrency.split(",")]

    from PIL import Image

    jpegs = []
    for im in make_images(args.images):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="JPEG", quality=90)
        jpegs.append(buf.getvalue())
    folder = Path(tempfile.mkdtemp(prefix="scale-out-data-"))
    ws = Workspace(args.database or folder / "ws", blobs=folder / "blobs")
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    t = time.monotonic()
    ensure_ray(RayOptions(num_cpus=None))
    import ray

    cpus = ray.cluster_resources().get("CPU", 0)
    print(f"{args.images} images 480x640, batch {args.batch_size}, {args.rounds} rounds; Ray cluster of {cpus:g} CPUs "
          f"(started in {time.monotonic() - t:.1f} s, not counted)")
    rates: dict[str, list[float]] = {"local": [], **{f"ray{c}": [] for c in counts}}
    for r in range(args.rounds):
        for key in rates:
            pid = _project(ws, f"round {r} {key} {time.time()}", jpegs)
            settle()
            t = time.monotonic()
            if key == "local":
                status = model.predict_detached(project_id=pid, upload="iou_merge", batch_size=args.batch_size).wait_done(3600)
            else:
                c = int(key[3:])
                # leave room for decoding and recording beside the model actors on a small machine
                opts = {"concurrency": c, "model_cpus": max(0.1, min(1.0, (cpus - 0.5) / c))}
                status = model.predict_detached(project_id=pid, upload="iou_merge", engine="ray", batch_size=args.batch_size,
                                                ray_options=opts).wait_done(3600)
            took = time.monotonic() - t
            assert status.done == args.images and status.failed == 0, status
            rates[key].append(args.images / took)
            print(f"  round {r}: {key:<6} {took:7.2f} s", file=sys.stderr)
    rate_row("single-process session (img/s)", rates["local"], "img/s")
    for c in counts:
        rate_row(f"Ray Data, {c} model actor{'s' * (c > 1)} (img/s)", rates[f"ray{c}"], "img/s", rates["local"], "(Ray / single process)")
    row("machine cores seen by Ray", cpus, "CPU")
    ray.shutdown()
    ws.close()


if __name__ == "__main__":
    main()
