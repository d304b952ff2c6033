"""Workspace upload throughput per mode: 1,000 images, 50 existing and 50 predicted objects on each.

    .venv/bin/python benchmarks/upload_throughput.py [--images 1000] [--objects 50] [--database URL]

Objects carry masks (COCO RLE) and boxes. Half of the predicted objects duplicate an existing object
of the same class (mask IoU about 0.95), half are new. Each image's upload is one transaction.
Target: ``iou_merge`` within 2x of ``append`` (objects per second).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sightline.geometry import mask_to_rle  # noqa: E402
from sightline.workspace.records import Obj  # noqa: E402
from sightline.workspace.schema import Annotation  # noqa: E402
from sightline.workspace.store import Workspace  # noqa: E402
from sightline.workspace.uploads import UploadMode, upload_objects  # noqa: E402

H, W = 240, 320
CLASSES = ("circle", "square", "triangle")


def objects(rng: np.random.Generator, n: int, source: str = "model") -> list[Obj]:
    out = []
    for k in range(n):
        x0, y0 = int(rng.integers(0, W - 40)), int(rng.integers(0, H - 40))
        w, h = int(rng.integers(10, 40)), int(rng.integers(10, 40))
        m = np.zeros((H, W), bool)
        m[y0 : y0 + h, x0 : x0 + w] = True
        out.append(Obj(CLASSES[k % 3], (x0, y0, x0 + w, y0 + h), mask_rle=mask_to_rle(m)["counts"], score=0.9, source=source))
    return out


def shifted(o: Obj) -> Obj:
    """The same object one pixel wider: IoU with the original is about 0.95."""
    x0, y0, x1, y1 = (int(v) for v in o.box)
    m = np.zeros((H, W), bool)
    m[y0:y1, x0 : x1 + 1] = True
    return Obj(o.class_name, (x0, y0, x1 + 1, y1), mask_rle=mask_to_rle(m)["counts"], score=0.8, source="model")


def setup(location: str, blobs: Path, images: int, n: int, rng: np.random.Generator) -> tuple[Workspace, list[int], list[list[Obj]]]:
    ws = Workspace(location, blobs=blobs)
    project = ws.create_project(f"bench {time.time()}")
    dataset = ws.create_dataset(project.id, "d")
    ids, predicted = [], []
    blank = np.zeros((H, W, 3), np.uint8)
    first = ws.add_image(dataset.id, blank, name="0.png")
    existing_all = []
    with ws.transaction() as s:  # bulk setup: not what is measured
        class_ids = ws.ensure_classes(s, project.id, {c: "mask" for c in CLASSES})
    for i in range(images):
        image_id = first.id if i == 0 else ws.add_image(dataset.id, blank, name=f"{i}.png").id
        existing = objects(rng, n, source="manual")
        with ws.transaction() as s:
            s.add_all(ws.rows(existing, class_ids, image_id=image_id))
        ids.append(image_id)
        existing_all.append(existing)
        half = n // 2
        predicted.append([shifted(o) for o in existing[:half]] + objects(rng, n - half))
    return ws, ids, predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: a temporary SQLite workspace)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        location = args.database or str(Path(tmp) / "ws")
        ws, ids, predicted = setup(location, Path(tmp) / "blobs", args.images, args.objects, rng)
        print(f"{ws.engine.dialect.name}: {args.images} images, {args.objects} existing + {args.objects} predicted objects each")
        rates = {}
        for mode in (UploadMode.APPEND, UploadMode.IOU_MERGE, UploadMode.REPLACE):
            with ws.transaction() as s:  # every mode starts from the same existing objects per image
                s.query(Annotation).filter(Annotation.source == "model").delete(synchronize_session=False)
            start = time.perf_counter()
            totals = {"added": 0, "skipped": 0, "replaced": 0}
            for image_id, objs in zip(ids, predicted):
                r = upload_objects(ws, [Obj(**{**o.__dict__}) for o in objs], mode, image_id=image_id, threshold=0.9)
                assert r.error is None, r.error
                totals["added"] += r.added
                totals["skipped"] += r.skipped_duplicates
                totals["replaced"] += r.replaced
            elapsed = time.perf_counter() - start
            rates[mode] = args.images * args.objects / elapsed
            print(f"{mode.value:<10} {rates[mode]:10.0f} objects/s  ({elapsed:6.2f} s)  added {totals['added']}, "
                  f"skipped {totals['skipped']}, replaced {totals['replaced']}")
            if mode is UploadMode.REPLACE:
                break
        ratio = rates[UploadMode.APPEND] / rates[UploadMode.IOU_MERGE]
        print(f"append / iou_merge time ratio: {ratio:.2f}x   (target: iou_merge within 2x of append)")
        ws.close()


if __name__ == "__main__":
    main()
