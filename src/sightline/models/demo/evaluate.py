"""Evaluate a shapes checkpoint on a held-out synthetic set: box and mask mAP@0.5 (pycocotools).

    python -m sightline.models.demo.evaluate --checkpoint assets/models/shapes.pt

The held-out set uses another seed than training, so no evaluation image was ever seen in training.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from dataclasses import dataclass
from typing import Any, Literal

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from sightline.geometry import mask_to_rle
from sightline.models.demo.synthetic import CLASSES, make_sample

EVAL_SEED = 1000


@dataclass
class EvalResult:
    box_map50: float
    mask_map50: float
    box_map: float
    mask_map: float
    images: int
    seconds_per_image: float


def _coco_eval(gt: dict[str, Any], dets: list[dict[str, Any]], kind: Literal["bbox", "segm"]) -> tuple[float, float]:
    if not dets:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        # COCO reads any dict in its JSON format; the stubs' TypedDict also wants fields evaluation never reads (file_name)
        coco_gt.dataset = gt  # type: ignore[assignment]
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, kind)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[1]), float(ev.stats[0])


def evaluate(checkpoint: str, images: int = 200, seed: int = EVAL_SEED, device: str = "cpu") -> EvalResult:
    import sightline

    model = sightline.load(checkpoint, device=device)
    gt: dict = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]}
    box_dets: list[dict] = []
    mask_dets: list[dict] = []
    elapsed = 0.0
    for i in range(images):
        s = make_sample(seed, i)
        h, w = s.image.shape[:2]
        gt["images"].append({"id": i, "height": h, "width": w})
        for m, c, b in zip(s.masks, s.class_ids, s.boxes):
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i,
                    "category_id": int(c) + 1,
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                    "area": float(m.sum()),
                    "segmentation": mask_to_rle(m),
                    "iscrowd": 0,
                }
            )
        t = time.perf_counter()
        (pred,) = model.predict(input=s.image, conf=0.05)
        elapsed += time.perf_counter() - t
        for k in range(len(pred)):
            x0, y0, x1, y1 = (float(v) for v in pred.boxes[k])
            common = {"image_id": i, "category_id": int(pred.class_ids[k]) + 1, "score": float(pred.scores[k])}
            box_dets.append({**common, "bbox": [x0, y0, x1 - x0, y1 - y0]})
            if pred.masks is not None:
                mask_dets.append({**common, "segmentation": mask_to_rle(pred.masks[k])})
    box50, box = _coco_eval(gt, box_dets, "bbox")
    mask50, mask = _coco_eval(gt, mask_dets, "segm")
    return EvalResult(box50, mask50, box, mask, images, elapsed / images)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="assets/models/shapes.pt")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    args = parser.parse_args(argv)
    r = evaluate(args.checkpoint, args.images, args.seed)
    print(f"held-out images: {r.images} (seed {args.seed})")
    print(f"box  mAP@0.5 = {r.box_map50:.3f}   mAP@0.5:0.95 = {r.box_map:.3f}")
    print(f"mask mAP@0.5 = {r.mask_map50:.3f}   mAP@0.5:0.95 = {r.mask_map:.3f}")
    print(f"inference: {r.seconds_per_image * 1000:.0f} ms per image (batch of 1, end to end)")


if __name__ == "__main__":
    main()
