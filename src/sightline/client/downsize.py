"""Client-side downsizing: send images no larger than the model's input, map results back to full size."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sightline.geometry import compact_masks
from sightline.prediction import Prediction


@dataclass(frozen=True)
class Scale:
    original: tuple[int, int]  # (h, w) the user's image
    sent: tuple[int, int]  # (h, w) what the server saw


def shrink(image: np.ndarray, longest: int) -> tuple[bytes, Scale] | None:
    """JPEG bytes of ``image`` with its longer side at most ``longest``; None when it is small enough."""
    h, w = image.shape[:2]
    factor = longest / max(h, w)
    if factor >= 1:
        return None
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=95)
    return buf.getvalue(), Scale((h, w), (size[1], size[0]))


def restore(pred: Prediction, scale: Scale) -> Prediction:
    """Rescale a prediction made on the small image to the user's full-size image."""
    if pred.image_size is None:
        return pred
    (oh, ow), (sh, sw) = scale.original, scale.sent
    d = pred.detections
    d.xyxy = (d.xyxy * np.array([ow / sw, oh / sh, ow / sw, oh / sh], dtype=np.float32)).astype(np.float32)
    masks = pred.masks
    if masks is not None and len(masks):
        big = np.stack([np.asarray(Image.fromarray(m).resize((ow, oh), Image.Resampling.NEAREST)) for m in masks])
        d.mask = compact_masks(big)
    elif masks is not None:
        d.mask = np.zeros((0, oh, ow), dtype=bool)
    pred.image_size = (oh, ow)
    return pred
