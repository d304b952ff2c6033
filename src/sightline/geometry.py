"""Masks as COCO RLE (pycocotools), IoU of boxes and masks (supervision), and rescaling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from pycocotools import mask as coco_mask

if TYPE_CHECKING:  # supervision (with SciPy) loads on first use, so importing the client stays fast
    from pycocotools import _EncodedRLE  # pycocotools' RLE object, as its type stubs name it (no runtime class)
    from supervision.detection.compact_mask import CompactMask

MaskLike: TypeAlias = "np.ndarray | CompactMask"


def encoded_rle(counts: str | bytes, height: int, width: int) -> _EncodedRLE:
    """pycocotools' RLE object for compressed ``counts`` (the JSON string or its bytes)."""
    return {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def counts_text(rle: _EncodedRLE) -> str:
    """The compressed ``counts`` of a pycocotools RLE object as a JSON-safe string."""
    counts = rle["counts"]
    return counts if isinstance(counts, str) else counts.decode("ascii")


def _from_run_lengths(counts: list[int], height: int, width: int) -> _EncodedRLE:
    """Compress uncompressed RLE (a list of run lengths, column-major, starting with background)."""
    uncompressed = {"size": [height, width], "counts": counts}
    # the type stubs leave out this form, which frPyObjects takes (pycocotools' frUncompressedRLE)
    encoded: _EncodedRLE = coco_mask.frPyObjects(uncompressed, height, width)  # type: ignore[call-overload]
    return encoded


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Encode one H×W bool mask as COCO compressed RLE with a JSON-safe ``counts`` string."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts_text(rle)}


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode COCO RLE (compressed string or uncompressed list ``counts``) to an H×W bool mask."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    encoded = _from_run_lengths(counts, h, w) if isinstance(counts, list) else encoded_rle(counts, h, w)
    return coco_mask.decode(encoded).astype(bool)


def compact_masks(masks: np.ndarray) -> CompactMask:
    """Store N×H×W masks as crop-RLE (supervision's ``CompactMask``), losslessly.

    Crops use each mask's own tight box, not the detection box, so no pixel outside the box is lost.
    Kept results of a long run then cost about the area of the objects, not N full images.
    """
    n, h, w = masks.shape
    boxes = np.zeros((n, 4), dtype=np.float32)
    for i in range(n):
        ys = np.flatnonzero(masks[i].any(axis=1))
        xs = np.flatnonzero(masks[i].any(axis=0))
        boxes[i] = (xs[0], ys[0], xs[-1], ys[-1]) if len(xs) else (0, 0, 0, 0)
    from supervision.detection.compact_mask import CompactMask

    return CompactMask.from_dense(masks, boxes, image_shape=(h, w))


def dense_masks(masks: MaskLike | None) -> np.ndarray | None:
    """Full N×H×W bool masks from either storage."""
    if masks is None or isinstance(masks, np.ndarray):
        return masks
    return masks.to_dense()


def crop_to_rle(crop: np.ndarray, x0: int, y0: int, height: int, width: int) -> dict[str, Any]:
    """COCO RLE of a full ``height``×``width`` mask that is ``crop`` placed at (x0, y0), without
    materialising the full mask: run lengths come straight from the crop's pixel positions."""
    h = crop.shape[0]
    k = np.flatnonzero(crop.T.ravel())  # column-major, as COCO scans
    if len(k) == 0:
        counts = [height * width]
    else:
        full = (x0 + k // h) * height + y0 + k % h
        breaks = np.flatnonzero(np.diff(full) != 1)
        starts = np.concatenate(([full[0]], full[breaks + 1]))
        ends = np.concatenate((full[breaks], [full[-1]])) + 1
        edges = np.empty(2 * len(starts) + 2, dtype=np.int64)
        edges[0], edges[1:-1:2], edges[2:-1:2], edges[-1] = 0, starts, ends, height * width
        counts = np.diff(edges).tolist()
    return {"size": [height, width], "counts": counts_text(_from_run_lengths(counts, height, width))}


def masks_to_rle(masks: MaskLike | None) -> list[dict[str, Any]] | None:
    if masks is None:
        return None
    from supervision.detection.compact_mask import CompactMask

    if isinstance(masks, CompactMask):  # from the crops: no full-size mask is ever built
        h, w = masks.image_shape
        return [crop_to_rle(masks.crop(i), int(masks.offsets[i][0]), int(masks.offsets[i][1]), h, w) for i in range(len(masks))]
    return [mask_to_rle(np.asarray(masks[i])) for i in range(len(masks))]


DENSE_TRANSCODE_PIXELS = 16_000_000  # images up to this size transcode through one H×W byte plane per mask


def rle_to_masks(rles: list[dict[str, Any]] | None, shape: tuple[int, int]) -> CompactMask | np.ndarray | None:
    """COCO RLE masks as a ``CompactMask``; raises ``ValueError`` when a mask's size or runs do not fit ``shape``.

    Up to ``DENSE_TRANSCODE_PIXELS``, each mask is expanded into one byte plane, cropped to its tight box and
    run-length coded again, all in NumPy: three times faster than supervision's run-by-run transcoding,
    whose Python loop over every column of a mask took most of a client's time reading a segmentation
    run's results. Larger images take that run-by-run path, which never builds a full-size plane."""
    if rles is None:
        return None
    if not rles:
        return np.zeros((0, *shape), dtype=bool)
    from supervision.detection.compact_mask import CompactMask

    height, width = int(shape[0]), int(shape[1])
    if height * width > DENSE_TRANSCODE_PIXELS:
        return _rle_to_masks_by_runs(rles, (height, width))
    crops: list[np.ndarray] = []
    crop_shapes: list[tuple[int, int]] = []
    offsets: list[tuple[int, int]] = []
    for r in rles:
        runs = _run_lengths(r, height, width)
        x1, y1, x2, y2 = _tight_box(runs, height)
        values = np.zeros(len(runs), dtype=np.uint8)
        values[1::2] = 1
        plane = np.repeat(values, runs).reshape(width, height)  # column-major, as COCO counts: plane[x, y]
        crops.append(_crop_runs(plane[x1 : x2 + 1, y1 : y2 + 1].ravel()))
        crop_shapes.append((y2 - y1 + 1, x2 - x1 + 1))
        offsets.append((x1, y1))
    return CompactMask(crops, np.array(crop_shapes, dtype=np.int32), np.array(offsets, dtype=np.int32), (height, width))


def _run_lengths(rle: dict[str, Any], height: int, width: int) -> np.ndarray:
    """A COCO RLE's counts as run lengths covering exactly ``height × width`` pixels, else ``ValueError``."""
    rh, rw = (int(v) for v in rle["size"])
    if (rh, rw) != (height, width):
        raise ValueError(f"RLE size {(rh, rw)} must match image_shape {(height, width)}.")
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        runs = compressed_counts(counts)
    else:
        from supervision.detection.compact_mask import _coco_rle_counts_to_array  # the parser from_coco_rle uses

        runs = _coco_rle_counts_to_array(counts).astype(np.int64)
    if int(runs.sum()) != height * width:
        raise ValueError("The sum of COCO RLE counts must match the image area.")
    return runs


MAX_CHARS_PER_COUNT = 7  # 35 bits: more than any image's pixel count; a longer number is not a count


def compressed_counts(counts: str | bytes) -> np.ndarray:
    """The run lengths of COCO's compressed ``counts`` string (pycocotools' ``rleFrString``), in NumPy.

    Each number takes one or more characters ``48 + 6 bits``: 5 bits of value, low first, and a bit saying
    another character follows; the last character's top value bit is its sign. From the fourth number
    on, each is stored as the difference from the one two places before. supervision's decoder does
    the same one character at a time in Python, which on a ragged outline's long string (thousands of
    characters) was most of the time reading the mask (``benchmarks/mask_reading.py --irregular``: 3.6×
    faster whole). Raises ``ValueError`` on a malformed string or a negative run."""
    try:
        raw = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    except UnicodeEncodeError:
        raise ValueError("Invalid COCO RLE counts: not ASCII.") from None
    chars = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if chars.size == 0 or chars.min() < 0 or chars.max() > 63:
        raise ValueError("Invalid COCO RLE counts: empty, or a character outside '0'..'o'.")
    more = (chars & 0x20) != 0
    if more[-1]:
        raise ValueError("Invalid COCO RLE counts: the string ends inside a number.")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > MAX_CHARS_PER_COUNT:
        raise ValueError("Invalid COCO RLE counts: a number too long for a pixel count.")
    place = np.arange(chars.size) - np.repeat(starts, lengths)  # each character's place in its number
    values = np.add.reduceat((chars & 0x1F) << (5 * place), starts)
    negative = (chars[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * lengths[negative])
    values[1::2] = np.cumsum(values[1::2])
    values[2::2] = np.cumsum(values[2::2])
    if values.min() < 0:
        raise ValueError("Invalid COCO RLE counts: a negative run.")
    return values


def _tight_box(runs: np.ndarray, height: int) -> tuple[int, int, int, int]:
    """The inclusive box of a mask's set pixels, from its column-major runs; (0, 0, 0, 0) when none is set
    (a 1×1 crop at the origin, as supervision's from_coco_rle gives an empty mask)."""
    ends = np.cumsum(runs)
    starts, stops = (ends - runs)[1::2], ends[1::2] - 1  # set runs: first and last pixel
    starts, stops = starts[stops >= starts], stops[stops >= starts]
    if not len(starts):
        return 0, 0, 0, 0
    first_col, last_col = starts // height, stops // height
    one_col = first_col == last_col  # a run over several columns covers every row of one of them
    top = np.where(one_col, starts % height, 0)
    bottom = np.where(one_col, stops % height, height - 1)
    return int(first_col.min()), int(top.min()), int(last_col.max()), int(bottom.max())


def _crop_runs(flat: np.ndarray) -> np.ndarray:
    """Run lengths of a flat 0/1 crop, starting with a background run (0 when the first pixel is set)."""
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.astype(np.int32)


def _rle_to_masks_by_runs(rles: list[dict[str, Any]], shape: tuple[int, int]) -> CompactMask:
    """supervision's run-by-run transcoding: no full-size plane, for very large images."""
    encoded: list[_EncodedRLE] = []
    for r in rles:
        counts, (rh, rw) = r["counts"], (int(v) for v in r["size"])
        encoded.append(_from_run_lengths(counts, *shape) if isinstance(counts, list) else encoded_rle(counts, rh, rw))
    x, y, w, h = np.asarray(coco_mask.toBbox(encoded), dtype=np.float64).reshape(-1, 4).T
    # tight boxes of the masks themselves (inclusive max), so the crops lose no pixel
    xyxy = np.stack([x, y, np.maximum(x, x + w - 1), np.maximum(y, y + h - 1)], axis=1)
    from supervision.detection.compact_mask import CompactMask

    return CompactMask.from_coco_rle(encoded, xyxy, image_shape=shape)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of xyxy boxes (N×M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    import supervision as sv

    return sv.box_iou_batch(a.astype(np.float64), b.astype(np.float64))


