"""The demo model: its training script produces a loadable checkpoint; the shipped one is accurate."""

from __future__ import annotations

import numpy as np

import sightline
from sightline.models.demo.evaluate import evaluate
from sightline.models.demo.synthetic import CLASSES, make_sample
from sightline.models.demo.train import train
from sightline.paths import DEMO_CHECKPOINT


def test_synthetic_data_is_reproducible_and_seed_dependent():
    a, b, c = make_sample(3, 5), make_sample(3, 5), make_sample(4, 5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.masks, b.masks)
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)
    for s in (make_sample(0, i) for i in range(20)):
        h, w = s.image.shape[:2]
        assert 256 <= h <= 640 and 256 <= w <= 640
        assert len(s.masks) == len(s.class_ids) == len(s.boxes)
        for m, box in zip(s.masks, s.boxes):  # the box is the box of the visible mask
            ys, xs = np.nonzero(m)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(box)


def test_training_script_writes_a_checkpoint_sightline_loads(tmp_path):
    out = tmp_path / "tiny.pt"
    train(steps=2, batch_size=2, lr=1e-3, seed=0, out=str(out), threads=2, log_every=1)
    model = sightline.load(out, device="cpu")
    assert model.classes == list(CLASSES) and model.task is sightline.Task.INSTANCE_SEGMENTATION
    (pred,) = model.predict(input=make_sample(1, 0).image, conf=0.0)
    assert pred.ok


def test_shipped_checkpoint_is_small_and_accurate():
    assert DEMO_CHECKPOINT.stat().st_size < 20 * 1024 * 1024
    # a deterministic slice of the held-out set; `make eval-demo` runs all 200 images
    result = evaluate(str(DEMO_CHECKPOINT), images=50)
    assert result.box_map50 >= 0.90, result
    assert result.mask_map50 >= 0.85, result
