"""Fixing a result by hand: change an object's class, adjust its box, delete it, or draw a missing one.

The page edits boxes with ``gradio_image_annotation`` (its ``image_annotator``); this module turns a
result into the editor's value and the editor's boxes back into a fixed ``Prediction``. The editor
returns boxes without ids but keeps the colour each box was given, so every box is sent in its class's
colour made unique per object: the colour says which object a box is when it comes back. Its class
dialog may recolour a box it relabels, so a box on an object's place as sent is that object too (see
``_owners``). A box matched by neither is one the reviewer drew.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sightline.errors import InputError
from sightline.prediction import Prediction
from sightline.ui.render import VIEW_SIDE, shrink

HAND_SCORE = 1.0  # the score of an object drawn by hand: the reviewer is sure of it


@dataclass(frozen=True)
class Editing:
    """What the editor shows: which result, at what scale, and which colour is which object."""

    run_id: str
    position: int
    version: int
    scale: float  # editor pixels per source pixel
    colors: dict[tuple[int, int, int], int]  # a box's colour -> the object index it was sent for
    sent: dict[int, tuple[int, int, int, int]]  # object index -> its box as sent (editor pixels, rounded)


def hex_rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def unique_colors(base: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Each colour of ``base`` moved by a few units where needed so that no two are equal (the eye cannot
    tell them apart; the editor hands them back exactly)."""
    used: set[tuple[int, int, int]] = set()
    out = []
    for r, g, b in base:
        step = 0
        color = (r, g, b)
        while color in used:
            step += 1
            color = ((r + step) % 256, (g + step // 256) % 256, b)  # 65,536 colours per class before a repeat
        used.add(color)
        out.append(color)
    return out


def editor_value(run: Any, position: int, image: np.ndarray, visible: list[int], class_colors: dict[str, str]) -> tuple[dict, Editing]:
    """The editor's value for one result: the picture (at most ``VIEW_SIDE`` pixels) and a box per visible
    object, labelled with its class, smallest first; and what the editor was sent, to read its answer with.

    The editor gives a click to the first box under the pointer and draws the first box on top: sent in
    the model's order, a box inside a bigger one listed before it (a duplicate, a part) could not be
    picked, and a double-click on it opened, and removed, the big one."""
    pred: Prediction = run.predictions[position]
    visible = sorted(visible, key=lambda i: _area(pred.boxes[i]))  # stable: equal boxes keep the model's order
    small, _ = shrink(image, VIEW_SIDE)
    scale = small.shape[1] / pred.image_size[1] if pred.image_size else 1.0
    base = [hex_rgb(class_colors.get(pred.classes[i], "#888888")) for i in visible]
    colors = unique_colors(base)
    boxes, sent = [], {}
    for i, color in zip(visible, colors):
        x0, y0, x1, y1 = (int(round(float(v) * scale)) for v in pred.boxes[i])
        sent[i] = (x0, y0, x1, y1)
        boxes.append({"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "label": pred.classes[i], "color": color})
    editing = Editing(run.id, position, run.versions.get(position, 0), scale, dict(zip(colors, visible)), sent)
    return {"image": small, "boxes": boxes}, editing


def _area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


@dataclass
class Fixes:
    """What the reviewer changed in the editor, in source pixels."""

    changed: dict[int, tuple[str, tuple[float, float, float, float] | None]]  # index -> (class, new box or None: unchanged)
    deleted: set[int]
    drawn: list[tuple[str, tuple[float, float, float, float]]]

    def __bool__(self) -> bool:
        return bool(self.changed or self.deleted or self.drawn)

    def describe(self) -> str:
        parts = []
        if self.changed:
            parts.append(f"{len(self.changed)} changed")
        if self.deleted:
            parts.append(f"{len(self.deleted)} deleted")
        if self.drawn:
            parts.append(f"{len(self.drawn)} drawn by hand")
        return ", ".join(parts) or "nothing changed"


def read_fixes(pred: Prediction, editing: Editing, boxes: list[dict] | None, classes: list[str]) -> Fixes:
    """The editor's boxes against what it was sent: which objects changed class or box, which were
    deleted, which were drawn. ``InputError`` for a label that is not one of ``classes``."""
    height, width = pred.image_size or (0, 0)
    fixes = Fixes({}, set(), [])
    returned = []
    for box in boxes or []:
        color = tuple(int(v) for v in (box.get("color") or ())[:3])
        corners = tuple(int(round(float(box[k]))) for k in ("xmin", "ymin", "xmax", "ymax"))
        returned.append((box, editing.colors.get(color), corners))  # type: ignore[arg-type]
    owners = _owners([(index, corners) for _, index, corners in returned], editing.sent)
    for n, (box, _, corners) in enumerate(returned):
        index = owners.get(n)
        label = str(box.get("label") or (pred.classes[index] if index is not None else "")).strip()
        if label not in classes:
            what = f"object {index}" if index is not None else "a box drawn by hand"
            raise InputError(f"{what} is labelled {label or 'nothing'!r}: pick one of the model's classes ({', '.join(classes)})")
        xyxy = _in_source(corners, editing.scale, width, height)
        if index is None:
            fixes.drawn.append((label, xyxy))
            continue
        moved = corners != editing.sent.get(index)
        if moved or label != pred.classes[index]:
            fixes.changed[index] = (label, xyxy if moved else None)
    fixes.deleted = set(editing.colors.values()) - set(owners.values())
    return fixes


def _owners(returned: list[tuple[int | None, tuple[int, ...]]], sent: dict[int, tuple[int, int, int, int]]) -> dict[int, int]:
    """Which object each returned box is (by position in ``returned``: the object its colour was sent for, or
    None, and its corners). First a box in its object's colour on its object's place; then one in its object's
    colour elsewhere (moved); then one on an object's place in another colour: the editor's class dialog may
    recolour a box it relabels (from a palette it fills when it mounts with the classes set), and the reviewer
    may recolour it there. A box matched by none was drawn by hand."""
    owners: dict[int, int] = {}

    def claim(n: int, index: int | None) -> None:
        if index is not None and n not in owners and index not in owners.values():
            owners[n] = index

    for n, (index, corners) in enumerate(returned):
        if index is not None and sent.get(index) == corners:
            claim(n, index)
    for n, (index, _) in enumerate(returned):
        claim(n, index)
    for n, (_, corners) in enumerate(returned):
        claim(n, next((i for i, place in sent.items() if place == corners and i not in owners.values()), None))
    return owners


def _in_source(corners: tuple[int, ...], scale: float, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (v / scale for v in corners)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    clip = lambda v, hi: float(min(max(v, 0.0), float(hi)))  # noqa: E731
    return clip(x0, width), clip(y0, height), clip(x1, width), clip(y1, height)


def apply_fixes(pred: Prediction, fixes: Fixes, classes: list[str]) -> tuple[Prediction, dict[int, int]]:
    """``pred`` with ``fixes`` applied, and where each surviving object's index went.

    A changed class takes the model's id for it; a changed box keeps the object's score and track id,
    and its mask is cut to the new box (a box moved off its mask gets the box filled as its mask); a box
    drawn by hand scores ``HAND_SCORE``, has no track, and on a segmentation result gets its box filled as
    its mask (so its class keeps one shape in the workspace). Objects fixed or drawn are marked ``edited``.
    """
    import supervision as sv

    d = pred.detections
    n = len(d)
    keep = [i for i in range(n) if i not in fixes.deleted]
    kept_from = {i: k for k, i in enumerate(keep)}
    xyxy = d.xyxy[keep].astype(np.float32).copy() if n else np.zeros((0, 4), np.float32)
    names = [pred.classes[i] for i in keep]
    ids = d.class_id if d.class_id is not None else np.zeros(n, dtype=np.int64)
    class_id = np.asarray([int(ids[i]) for i in keep], dtype=np.int64)
    confidence = np.asarray([float(pred.scores[i]) for i in keep], dtype=np.float32)
    tracker = None if d.tracker_id is None else np.asarray([int(d.tracker_id[i]) for i in keep], dtype=np.int64)
    old_edited = d.data.get("edited")
    edited = np.asarray([bool(old_edited[i]) if old_edited is not None else False for i in keep], dtype=bool)
    height, width = pred.image_size or (0, 0)
    masks = None
    if d.mask is not None:
        dense = pred.masks
        masks = dense[keep].copy() if dense is not None and n else np.zeros((0, height, width), dtype=bool)
    for i, (label, box) in fixes.changed.items():
        k = kept_from[i]
        names[k], class_id[k], edited[k] = label, classes.index(label), True
        if box is not None:
            xyxy[k] = box
            if masks is not None:
                masks[k] = _cut(masks[k], box)
    for label, box in fixes.drawn:
        xyxy = np.vstack([xyxy, np.asarray([box], dtype=np.float32)])
        names.append(label)
        class_id = np.append(class_id, classes.index(label))
        confidence = np.append(confidence, np.float32(HAND_SCORE))
        edited = np.append(edited, True)
        if tracker is not None:
            tracker = np.append(tracker, -1)
        if masks is not None:
            masks = np.concatenate([masks, _cut(np.ones((height, width), dtype=bool), box)[None]])
    detections = sv.Detections(
        xyxy=xyxy.reshape(-1, 4), mask=masks, confidence=confidence.astype(np.float32), class_id=class_id,
        tracker_id=tracker, data={"class_name": np.asarray(names, dtype=object), "edited": edited} if len(names) else {},
    )
    return replace(pred, detections=detections), kept_from


def _cut(mask: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))
    inside = np.zeros_like(mask)
    inside[y0:y1, x0:x1] = True
    cut = mask & inside
    return cut if cut.any() else inside


def is_edited(pred: Prediction, i: int) -> bool:
    flags = pred.detections.data.get("edited")
    return bool(flags[i]) if flags is not None and i < len(flags) else False
