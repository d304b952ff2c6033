"""EXIF orientation is applied before prediction: boxes land on the shapes a person sees."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import matched_fraction

# EXIF orientation -> the transpose that, applied to the upright image, gives the stored pixels
STORED_AS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_boxes_follow_exif_rotation(demo_model, samples, tmp_path, orientation):
    sample = samples[0]
    upright = Image.fromarray(sample.image)
    stored = upright.transpose(STORED_AS[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rotated_{orientation}.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())

    (pred,) = demo_model.predict(input=path)
    assert pred.image_size == (360, 480)  # the upright size, not the stored one
    assert pred.load_image().shape == (360, 480, 3)
    assert matched_fraction(pred, sample) >= 0.75
    # and the raw stored pixels would not have matched: the rotation really mattered
    (raw,) = demo_model.predict(input=np.asarray(stored))
    assert matched_fraction(raw, sample) < 0.5
