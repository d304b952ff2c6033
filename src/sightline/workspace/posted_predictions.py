"""Predictions as a client posts them (``Prediction.to_dict()``), checked field by field before use.

Every problem is an ``InvalidSettingError`` naming ``predictions[i].field`` and the reason, so
``POST /v1/uploads`` answers 422 instead of failing deep inside numpy, pycocotools or the database.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import supervision as sv

from sightline.errors import InvalidSettingError, PayloadTooLargeError
from sightline.geometry import rle_to_masks
from sightline.prediction import Prediction
from sightline.workspace.ids import MAX_ID, is_id
from sightline.workspace.names import valid_name

TEXT_FIELDS = ("source", "image_path", "image_url", "video_path", "error")
ID_FIELDS = ("project_id", "dataset_id", "image_id", "video_id")
COUNT_FIELDS = ("frame_idx", "timestamp_us", "index")
KNOWN = (*TEXT_FIELDS, *ID_FIELDS, *COUNT_FIELDS, "image_size", "boxes", "scores", "class_ids", "classes", "track_ids", "masks", "upload")
MAX_TEXT = 4096
MAX_OBJECTS = 10_000  # boxes (and masks) in one posted prediction
MASK_PIXEL_FACTOR = 16  # all masks of one request may cover at most this many largest images (masks × image pixels)


def max_counts_chars(height: int, width: int) -> int:
    """The longest compressed RLE text a ``height``×``width`` mask can have: each run takes at most one
    character more than its length in pixels (5 bits a character), and there are at most h·w + 1 runs."""
    return 2 * height * width + 64


class MaskBudget:
    """The mask pixels (masks × image pixels) one request may still decode, counted before any decoding."""

    def __init__(self, max_pixels: int) -> None:
        self.limit = self.left = max_pixels * MASK_PIXEL_FACTOR

    def spend(self, masks: int, size: tuple[int, int], where: str) -> None:
        self.left -= masks * size[0] * size[1]
        if self.left < 0:
            raise PayloadTooLargeError(
                f"{where}: the masks of this request cover more than {self.limit:,} pixels in all (masks × image pixels); "
                "send the predictions in several requests", 413)


class _Fields:
    """Reads one posted prediction, naming each field ``predictions[i].field`` in its errors."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data, self.where = data, where

    def fail(self, field: str, reason: str) -> InvalidSettingError:
        return InvalidSettingError(f"{self.where}.{field}: {reason}")

    def optional(self, field: str, check: Any, reason: str) -> Any:
        value = self.data.get(field)
        if value is not None and not check(value):
            raise self.fail(field, f"{reason}, got {value!r:.80}")
        return value

    def items(self, field: str, n: int, check: Any, reason: str) -> list | None:
        """A list of ``n`` values (one per box) passing ``check``; ``None`` or ``[]`` when absent and allowed."""
        value = self.data.get(field)
        if value is None or (value == [] and n == 0):
            return None
        if not isinstance(value, list):
            raise self.fail(field, f"must be a list with one value per box, got {type(value).__name__}")
        if len(value) != n:
            raise self.fail(field, f"has {len(value)} values for {n} boxes")
        for k, v in enumerate(value):
            if not check(v):
                raise self.fail(f"{field}[{k}]", f"{reason}, got {v!r:.80}")
        return value


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_TEXT and "\x00" not in v


def _count(v: Any) -> bool:
    return is_id(v) and 0 <= v <= 2**62


def _rle(f: _Fields, k: int, rle: Any, size: tuple[int, int]) -> dict[str, Any]:
    field = f"masks[{k}]"
    if not isinstance(rle, dict) or set(rle) - {"size", "counts"}:
        raise f.fail(field, "must be COCO RLE: {size: [height, width], counts: text or run lengths}")
    if rle.get("size") != list(size):
        raise f.fail(f"{field}.size", f"must be image_size {list(size)}, got {rle.get('size')!r:.80}")
    counts = rle.get("counts")
    if isinstance(counts, str) and len(counts) > max_counts_chars(*size):  # bound the work before pycocotools sees it
        raise f.fail(f"{field}.counts", f"is {len(counts):,} characters, more than any RLE of a {size[0]}×{size[1]} mask "
                                         f"(at most {max_counts_chars(*size):,})")
    if isinstance(counts, list) and len(counts) > size[0] * size[1] + 1:
        raise f.fail(f"{field}.counts", f"has {len(counts):,} runs, more than a {size[0]}×{size[1]} mask can have")
    if not (isinstance(counts, str) or (isinstance(counts, list) and all(is_id(c) and c >= 0 for c in counts))):
        raise f.fail(f"{field}.counts", "must be compressed RLE text or a list of run lengths")
    if isinstance(counts, list) and sum(counts) != size[0] * size[1]:
        raise f.fail(f"{field}.counts", f"run lengths add up to {sum(counts):,}, not height × width = {size[0] * size[1]:,}")
    try:
        rle_to_masks([rle], size)  # decodes the runs and checks they cover the image exactly
    except (ValueError, TypeError, UnicodeError) as exc:
        raise f.fail(f"{field}.counts", f"is not valid RLE ({exc})") from None
    return rle


def parse_prediction(data: Any, k: int, max_pixels: int, budget: MaskBudget | None = None) -> Prediction:
    """One posted prediction as a ``Prediction``; ``max_pixels`` bounds ``image_size``, ``budget`` the masks decoded."""
    where = f"predictions[{k}]"
    if not isinstance(data, dict):
        raise InvalidSettingError(f"{where} must be an object (as Prediction.to_dict() writes it), got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in KNOWN)
    if unknown:
        raise InvalidSettingError(f"{where}: unknown field(s) {', '.join(unknown)}")
    f = _Fields(data, where)
    for name in TEXT_FIELDS:
        f.optional(name, _text, f"must be text of at most {MAX_TEXT} characters without NUL")
    for name in ID_FIELDS:
        f.optional(name, lambda v: is_id(v) and 1 <= v <= MAX_ID, f"must be a workspace ID (an integer from 1 to {MAX_ID})")
    for name in COUNT_FIELDS:
        f.optional(name, _count, "must be an integer >= 0")
    f.optional("upload", lambda v: isinstance(v, dict), "must be an object")
    size = f.optional("image_size", lambda v: isinstance(v, list) and len(v) == 2 and all(is_id(x) and x > 0 for x in v),
                      "must be [height, width] in pixels")
    if size is not None and size[0] * size[1] > max_pixels:
        raise f.fail("image_size", f"{size[0]}×{size[1]} is over the server's limit of {max_pixels:,} pixels")
    boxes = data.get("boxes") or []
    if not isinstance(boxes, list):
        raise f.fail("boxes", f"must be a list of [x0, y0, x1, y1], got {type(boxes).__name__}")
    if len(boxes) > MAX_OBJECTS:
        raise f.fail("boxes", f"has {len(boxes):,} boxes, over the limit of {MAX_OBJECTS:,} objects per prediction")
    for j, b in enumerate(boxes):
        if not (isinstance(b, list) and len(b) == 4 and all(_number(v) for v in b)):
            raise f.fail(f"boxes[{j}]", f"must be [x0, y0, x1, y1] (four finite numbers), got {b!r:.80}")
        if b[2] < b[0] or b[3] < b[1]:
            raise f.fail(f"boxes[{j}]", f"x1 < x0 or y1 < y0 in {b!r:.80}")
    n = len(boxes)
    classes = f.items("classes", n, lambda v: isinstance(v, str), "must be a class name (text)")
    for j, name in enumerate(classes or []):
        try:
            valid_name(name, "class name", path_safe=False)
        except InvalidSettingError as exc:
            raise f.fail(f"classes[{j}]", str(exc)) from None
    if n and classes is None:
        raise f.fail("classes", f"must name the class of each of the {n} boxes")
    scores = f.items("scores", n, lambda v: _number(v) and 0 <= v <= 1, "must be a score between 0 and 1")
    class_ids = f.items("class_ids", n, lambda v: is_id(v) and 0 <= v <= 2**31 - 1, "must be an integer class index >= 0")
    track_ids = f.items("track_ids", n, lambda v: is_id(v) and -1 <= v <= 2**31 - 1, "must be an integer track id (-1 for none)")
    masks = data.get("masks")
    if masks is not None:
        if size is None and masks:
            raise f.fail("masks", "need image_size, the [height, width] the masks cover")
        masks = f.items("masks", n, lambda v: True, "")
    if masks:
        (budget or MaskBudget(max_pixels)).spend(len(masks), (size[0], size[1]), f"{where}.masks")
        masks = [_rle(f, j, rle, (size[0], size[1])) for j, rle in enumerate(masks)]
    detections = sv.Detections(
        xyxy=np.asarray(boxes, dtype=np.float32).reshape(n, 4),
        mask=rle_to_masks(masks, (size[0], size[1])) if masks is not None and size is not None else None,
        confidence=None if scores is None else np.asarray(scores, dtype=np.float32),
        class_id=np.asarray(class_ids or [0] * n, dtype=np.int64),
        tracker_id=None if track_ids is None else np.asarray(track_ids, dtype=np.int64),
        data={"class_name": np.asarray(classes, dtype=object)} if n else {},
    )
    return Prediction(detections=detections, image_size=(size[0], size[1]) if size else None, index=data.get("index"),
                      **{key: data.get(key) for key in (*TEXT_FIELDS, *ID_FIELDS, "frame_idx", "timestamp_us")})


def parse_predictions(raw: Any, max_pixels: int) -> list[Prediction]:
    """``predictions`` of an upload request: a non-empty list of posted predictions."""
    if not isinstance(raw, list) or not raw:
        raise InvalidSettingError("predictions must be a non-empty list of predictions (as Prediction.to_dict() writes them)")
    budget = MaskBudget(max_pixels)
    return [parse_prediction(p, k, max_pixels, budget) for k, p in enumerate(raw)]

