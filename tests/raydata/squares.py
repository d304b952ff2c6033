"""A real, cheap model for project-scale tests: it finds the pure red, green and blue squares that
``make_project`` draws (a mask per colour, its box, a score from how pure the colour is). Cheap enough that
2,000 images measure the pipeline, not the model; the demo model runs through the same actors in
``test_demo_model_through_actors``."""

from __future__ import annotations

import io

import numpy as np
import supervision as sv
from PIL import Image

from sightline.models.base import Model, Task, finalize
from sightline.settings import PredictSettings

COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}


class Squares(Model):
    name = "test/squares"
    classes = list(COLOURS)
    task = Task.INSTANCE_SEGMENTATION
    default_settings = {"conf": 0.5}
    input_size = None
    device = "cpu"
    framework = "numpy"

    def to_device(self, device: str) -> None:
        pass  # numpy runs anywhere

    def predict_batch(self, images: list[np.ndarray], settings: PredictSettings) -> list[sv.Detections]:
        out = []
        for im in images:
            boxes, masks, scores, ids = [], [], [], []
            for k, rgb in enumerate(COLOURS.values()):
                mask = np.all(np.abs(im.astype(np.int16) - np.array(rgb)) < 40, axis=2)
                if mask.sum() < 4:
                    continue
                ys, xs = np.nonzero(mask)
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                masks.append(mask)
                scores.append(0.6 + 0.4 * mask.sum() / ((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)))
                ids.append(k)
            if boxes:
                d = sv.Detections(xyxy=np.array(boxes, dtype=np.float32), mask=np.array(masks), confidence=np.array(scores, dtype=np.float32),
                                  class_id=np.array(ids))
            else:
                d = sv.Detections.empty()
                d.mask = np.zeros((0, *im.shape[:2]), dtype=bool)
            out.append(finalize(d, settings, self.classes))
        return out


def make_images(n: int, seed: int = 0, size: int = 40) -> list[bytes]:
    """``n`` PNG images, each with 0 to 3 squares of the three colours (seeded: the same every time)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        im = np.full((size, size, 3), 128, dtype=np.uint8)
        for rgb in COLOURS.values():
            if rng.random() < 0.6:
                s = int(rng.integers(5, 14))
                y, x = rng.integers(0, size - s, 2)
                im[y:y + s, x:x + s] = rgb
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out
