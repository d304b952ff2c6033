"""Reloading the image behind a finished ``Prediction`` (for drawing and review)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sightline.errors import SightlineError
from sightline.inputs.images import decode_image_bytes, read_image_file
from sightline.inputs.urls import fetch_bytes
from sightline.video.decode import read_frame

if TYPE_CHECKING:
    from sightline.prediction import Prediction


def load_source_image(pred: Prediction) -> np.ndarray:
    """The RGB pixels of the item ``pred`` was made on."""
    try:
        if pred.image_path:
            return read_image_file(pred.image_path)
        if pred.image_url:
            return decode_image_bytes(fetch_bytes(pred.image_url))
        if pred.video_path and pred.frame_idx is not None:
            return read_frame(pred.video_path, pred.frame_idx)
    except (ValueError, RuntimeError) as exc:
        raise SightlineError(f"could not load the image of {pred.source!r}: {exc}") from None
    raise SightlineError(f"prediction for {pred.source!r} has no stored image to load (it came from memory)")
