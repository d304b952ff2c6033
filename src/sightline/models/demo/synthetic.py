"""Synthetic images of filled circles, squares and triangles with exact instance masks.

Used to train and evaluate the ``demo/shapes`` model and to make the sample assets. Every image is a
pure function of ``(seed, index)``, so a data set is reproducible without being stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
MIN_SHAPE, MAX_SHAPE = 16, 120
MIN_SIDE, MAX_SIDE = 256, 640
MIN_VISIBLE = 0.6  # a shape must keep this share of its pixels after later shapes cover it


@dataclass
class Sample:
    """One synthetic image (H×W×3 uint8 RGB) and its instances."""

    image: np.ndarray
    masks: np.ndarray  # N×H×W bool, visible pixels only
    class_ids: np.ndarray  # N int, indices into CLASSES
    boxes: np.ndarray  # N×4 float xyxy, box of the visible mask


def _polygon(kind: str, cx: float, cy: float, size: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        r = size / math.sqrt(2)
        corners = [angle + math.pi / 4 + k * math.pi / 2 for k in range(4)]
    else:  # equilateral triangle whose circumscribed circle has diameter ``size``
        r = size / 2
        corners = [angle + k * 2 * math.pi / 3 for k in range(3)]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in corners]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = rng.integers(0, 4)
    base = rng.uniform(0, 255, size=3)
    if kind == 0:  # flat colour with pixel noise
        img = np.broadcast_to(base, (h, w, 3)) + rng.normal(0, rng.uniform(3, 25), (h, w, 3))
    elif kind == 1:  # linear gradient between two colours
        other = rng.uniform(0, 255, size=3)
        t = np.linspace(0, 1, w)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, h)[:, None, None]
        img = base * (1 - t) + other * t + rng.normal(0, 6, (h, w, 3))
    elif kind == 2:  # blurred blotches
        small = rng.uniform(0, 255, (max(2, h // 32), max(2, w // 32), 3)).astype(np.uint8)
        img = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)
        img = img * 0.6 + base * 0.4 + rng.normal(0, 5, (h, w, 3))
    else:  # stripes or thin lines clutter
        canvas = Image.fromarray(np.full((h, w, 3), base, dtype=np.uint8))
        draw = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(5, 30))):
            x0, y0, x1, y1 = rng.uniform(0, [w, h, w, h])
            draw.line((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.uniform(0, 255, 3)), width=int(rng.integers(1, 4)))
        img = np.asarray(canvas, dtype=np.float64) + rng.normal(0, 5, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _contrasting_colour(rng: np.random.Generator, around: np.ndarray) -> tuple[int, int, int]:
    for _ in range(50):
        colour = rng.uniform(0, 255, 3)
        if np.abs(colour - around).sum() > 120:
            break
    r, g, b = (int(c) for c in colour)
    return r, g, b


def make_sample(seed: int, index: int, max_shapes: int = 8, size: tuple[int, int] | None = None, min_shapes: int = 1) -> Sample:
    """Generate image ``index`` of the data set ``seed`` (``size`` is (h, w), random when None)."""
    rng = np.random.default_rng([seed, index])
    h, w = size if size else (int(rng.integers(MIN_SIDE, MAX_SIDE + 1)), int(rng.integers(MIN_SIDE, MAX_SIDE + 1)))
    image = _background(rng, h, w)
    canvas = Image.fromarray(image)
    owner = np.full((h, w), -1, dtype=np.int32)  # which instance owns each visible pixel
    areas: list[int] = []
    visible: list[int] = []
    kinds: list[int] = []
    for _ in range(int(rng.integers(min_shapes, max_shapes + 1))):
        for _attempt in range(10):
            kind = int(rng.integers(0, len(CLASSES)))
            sz = float(rng.uniform(MIN_SHAPE, min(MAX_SHAPE, 0.9 * min(h, w))))
            cx, cy = rng.uniform(sz / 2, w - sz / 2), rng.uniform(sz / 2, h - sz / 2)
            # draw in a crop around the shape: full-image layers dominate the cost otherwise
            x0, y0 = max(0, int(cx - sz / 2) - 2), max(0, int(cy - sz / 2) - 2)
            x1, y1 = min(w, int(cx + sz / 2) + 3), min(h, int(cy + sz / 2) + 3)
            layer = Image.new("L", (x1 - x0, y1 - y0), 0)
            d = ImageDraw.Draw(layer)
            lx, ly = cx - x0, cy - y0
            if CLASSES[kind] == "circle":
                d.ellipse((lx - sz / 2, ly - sz / 2, lx + sz / 2, ly + sz / 2), fill=255)
            else:
                d.polygon(_polygon(CLASSES[kind], lx, ly, sz, rng.uniform(0, 2 * math.pi)), fill=255)
            shape = np.asarray(layer) > 127
            if not shape.any():
                continue
            region = owner[y0:y1, x0:x1]
            covered = region[shape]
            hits = np.bincount(covered[covered >= 0], minlength=len(areas))
            # occluding must leave every earlier shape at least MIN_VISIBLE visible
            if any(visible[j] - hits[j] < MIN_VISIBLE * areas[j] for j in np.nonzero(hits)[0]):
                continue
            for j in np.nonzero(hits)[0]:
                visible[j] -= int(hits[j])
            colour = _contrasting_colour(rng, np.asarray(canvas)[y0:y1, x0:x1][shape].mean(axis=0))
            canvas.paste(colour, (x0, y0, x1, y1), mask=Image.fromarray(shape.astype(np.uint8) * 255))
            region[shape] = len(areas)
            areas.append(int(shape.sum()))
            visible.append(areas[-1])
            kinds.append(kind)
            break
    out = canvas
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    pixels = np.asarray(out, dtype=np.float64) + rng.normal(0, rng.uniform(0, 8), (h, w, 3))
    image = np.clip(pixels, 0, 255).astype(np.uint8)
    masks = np.stack([owner == i for i in range(len(areas))]) if areas else np.zeros((0, h, w), bool)
    boxes = np.zeros((len(areas), 4), dtype=np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return Sample(image=image, masks=masks, class_ids=np.asarray(kinds, dtype=np.int64), boxes=boxes)
