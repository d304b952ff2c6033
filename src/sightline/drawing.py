"""Boxes, masks and labels drawn with supervision's annotators onto RGB images, in the right colours.

supervision's annotators write colours in BGR order into NumPy arrays, and sightline's images are
RGB. Rather than flipping every image twice (the costliest step of drawing a video frame), the
annotators get the palette with red and blue swapped, so they write RGB.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv

from sightline.detections import class_ids

PALETTE = sv.ColorPalette.DEFAULT
RGB_PALETTE = sv.ColorPalette([sv.Color(r=c.b, g=c.g, b=c.r) for c in PALETTE.colors])  # written as "BGR" = RGB


def class_color(class_id: int) -> str:
    """The hex colour (``#rrggbb``) used for a class everywhere: drawings, the server info, the UI."""
    return PALETTE.by_idx(int(class_id)).as_hex()


def detection_labels(detections: sv.Detections, class_names: Sequence[str] | None = None) -> list[str]:
    names = detections.data.get("class_name")
    ids = class_ids(detections)
    labels = []
    for i in range(len(detections)):
        class_id = int(ids[i])
        name = str(names[i]) if names is not None else str(class_names[class_id]) if class_names else str(class_id)
        text = name if detections.confidence is None else f"{name} {detections.confidence[i]:.2f}"
        if detections.tracker_id is not None and detections.tracker_id[i] >= 0:
            text = f"#{int(detections.tracker_id[i])} {text}"
        labels.append(text)
    return labels


def draw_detections(
    image: np.ndarray,
    detections: sv.Detections,
    *,
    boxes: bool = True,
    masks: bool = True,
    labels: bool = True,
    mask_opacity: float = 0.45,
    thickness: int | None = None,
    smart_labels: bool = True,
) -> np.ndarray:
    """Return a copy of the RGB ``image`` with ``detections`` drawn in their class colours.

    ``smart_labels`` moves labels apart when they would overlap (costs ~0.5 ms; video frames skip it).
    """
    scene = np.array(image, dtype=np.uint8, order="C", copy=True)
    if len(detections):
        thickness = thickness or max(1, round(max(image.shape[:2]) / 320))
        if masks and detections.mask is not None:
            scene = sv.MaskAnnotator(color=RGB_PALETTE, opacity=mask_opacity).annotate(scene, detections)
        if boxes:
            scene = sv.BoxAnnotator(color=RGB_PALETTE, thickness=thickness).annotate(scene, detections)
        if labels:
            scene = sv.LabelAnnotator(
                color=RGB_PALETTE, text_scale=0.4 * thickness, text_thickness=thickness, text_padding=3, smart_position=smart_labels
            ).annotate(scene, detections, labels=detection_labels(detections))
    return scene
