"""Prediction: array views, JSON round trip with RLE masks, drawing in the right colours."""

from __future__ import annotations

import json

import numpy as np
import pytest
import supervision as sv

import sightline
from sightline import geometry
from sightline.drawing import class_color, draw_detections
from sightline.geometry import mask_to_rle, rle_to_mask, rle_to_masks


def test_views_are_consistent(demo_model, samples):
    (pred,) = demo_model.predict(input=samples[0].image)
    n = len(pred)
    assert n > 0
    assert pred.boxes.shape == (n, 4) and pred.boxes.dtype == np.float32
    assert pred.masks.shape == (n, 360, 480) and pred.masks.dtype == bool
    assert pred.scores.shape == (n,) and pred.class_ids.shape == (n,)
    assert pred.classes == [demo_model.classes[c] for c in pred.class_ids]
    assert pred.track_ids is None
    assert isinstance(pred.detections, sv.Detections)
    # every mask lies inside its box (boxes are in original-image pixels)
    for box, mask in zip(pred.boxes, pred.masks):
        ys, xs = np.nonzero(mask)
        if len(xs):
            assert xs.min() >= box[0] - 2 and xs.max() <= box[2] + 2 and ys.min() >= box[1] - 2 and ys.max() <= box[3] + 2


def test_json_round_trip_keeps_everything(demo_model, sample_dir):
    (pred,) = demo_model.predict(input=sample_dir / "img_01.png")
    text = pred.to_json()
    data = json.loads(text)
    assert isinstance(data["masks"][0]["counts"], str)  # compressed COCO RLE, JSON-safe
    back = sightline.Prediction.from_json(text)
    assert back.image_path == pred.image_path and back.image_size == pred.image_size and back.index == pred.index
    np.testing.assert_allclose(back.boxes, pred.boxes, atol=0.01)
    np.testing.assert_allclose(back.scores, pred.scores, atol=1e-5)
    assert back.classes == pred.classes and back.class_ids.tolist() == pred.class_ids.tolist()
    assert np.array_equal(back.masks, pred.masks)


def test_json_round_trip_of_failed_and_empty(demo_model, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    blank = np.full((64, 64, 3), 127, np.uint8)
    failed, empty = demo_model.predict(input=[bad, blank])
    for p in (failed, empty):
        back = sightline.Prediction.from_json(p.to_json())
        assert back.error == p.error and len(back) == 0
    assert back.masks is not None and back.masks.shape == (0, 64, 64)


def test_rle_accepts_uncompressed_counts():
    mask = np.zeros((5, 4), bool)
    mask[1:3, 1:4] = True
    # column-major run lengths, as COCO's uncompressed RLE writes them
    flat = mask.flatten(order="F")
    counts, current, run = [], False, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    assert np.array_equal(rle_to_mask({"size": [5, 4], "counts": counts}), mask)
    assert np.array_equal(rle_to_mask(mask_to_rle(mask)), mask)


def test_drawing_uses_class_colours_in_rgb():
    image = np.zeros((100, 100, 3), np.uint8)
    detections = sv.Detections(
        xyxy=np.array([[10, 10, 60, 60]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([1]),
        data={"class_name": np.array(["square"], dtype=object)},
    )
    drawn = draw_detections(image, detections, labels=False, masks=False, thickness=2)
    expected = tuple(int(class_color(1)[i : i + 2], 16) for i in (1, 3, 5))
    assert tuple(drawn[35, 10]) == expected  # the left edge of the box, in RGB order
    assert tuple(drawn[35, 35]) == (0, 0, 0)  # inside untouched
    assert image.max() == 0  # the input is not drawn on


def test_prediction_draw_marks_masks_and_filters_by_conf(demo_model, samples):
    (pred,) = demo_model.predict(input=samples[0].image, conf=0.05)
    drawn = pred.draw(labels=False, boxes=False)
    changed = np.any(drawn != samples[0].image, axis=2)
    union = pred.masks.any(axis=0)
    assert changed[union].mean() > 0.95 and changed[~union].mean() < 0.01
    nothing = pred.draw(conf=1.01)
    assert np.array_equal(nothing, samples[0].image)


def test_load_image_for_each_source(demo_model, sample_dir, samples, sample_video):
    (from_file,) = demo_model.predict(input=sample_dir / "img_00.png")
    assert np.array_equal(from_file.load_image(), samples[0].image)
    frames = demo_model.predict(input=sample_video, start_frame=10, num_frames=1)
    assert frames[0].load_image().shape == (360, 480, 3)


def _edge_masks(rng: np.random.Generator, height: int, width: int) -> list[np.ndarray]:
    """Masks a transcoder gets wrong first: empty, full, single pixels in corners, blobs that wrap from the
    bottom of one column to the top of the next, thin lines, and random noise."""
    masks = [np.zeros((height, width), bool), np.ones((height, width), bool)]
    for y, x in ((0, 0), (height - 1, width - 1), (0, width - 1), (height - 1, 0)):
        m = np.zeros((height, width), bool)
        m[y, x] = True
        masks.append(m)
    wrap = np.zeros((height, width), bool)
    wrap[height - 2 :, 3] = wrap[:2, 4] = True  # one run in column-major order, over two columns
    line = np.zeros((height, width), bool)
    line[5, 2 : width - 3] = True
    blob = np.zeros((height, width), bool)
    blob[10:30, 20:45] = True
    blob[15:18, 30:33] = False  # a hole
    masks += [wrap, line, blob, rng.random((height, width)) > 0.7]
    return masks


def test_masks_read_from_rle_equal_supervisions_transcoding_pixel_for_pixel():
    rng = np.random.default_rng(7)
    height, width = 48, 64
    masks = _edge_masks(rng, height, width)
    rles = [mask_to_rle(m) for m in masks]
    rles.append({"size": [height, width], "counts": [0, height * width]})  # uncompressed: all set

    ours = rle_to_masks(rles, (height, width))
    theirs = geometry._rle_to_masks_by_runs(rles, (height, width))

    assert ours == theirs  # the same pixels
    assert np.array_equal(ours.offsets, theirs.offsets) and np.array_equal(ours.bbox_xyxy, theirs.bbox_xyxy)
    assert np.array_equal(ours.to_dense()[: len(masks)], np.stack(masks))


@pytest.mark.parametrize(
    ("rle", "words"),
    [
        ({"size": [48, 65], "counts": [3120]}, "must match image_shape"),
        ({"size": [48, 64], "counts": [100, 5]}, "must match the image area"),
        ({"size": [48, 64], "counts": [3072, 1]}, "must match the image area"),
        ({"size": [48, 64], "counts": [-1, 3073]}, "non-negative"),
    ],
)
def test_rle_that_does_not_cover_the_image_exactly_is_refused(rle, words):
    with pytest.raises(ValueError, match=words):
        rle_to_masks([rle], (48, 64))


def test_compressed_counts_are_read_as_pycocotools_writes_them():
    from supervision.detection.compact_mask import _coco_rle_counts_to_array

    rng = np.random.default_rng(11)
    height, width = 480, 640
    for k in range(60):
        mask = np.zeros((height, width), dtype=bool)
        for _ in range(int(rng.integers(0, 4))):
            x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
            mask[y : y + int(rng.integers(1, 300)), x : x + int(rng.integers(1, 300))] = True
        if k % 9 == 0:
            mask |= rng.random((height, width)) > 0.5  # many short runs, some counts shrinking (negative differences)
        counts = mask_to_rle(mask)["counts"]
        runs = geometry.compressed_counts(counts)
        assert np.array_equal(runs, _coco_rle_counts_to_array(counts)), counts[:40]
        assert int(runs.sum()) == height * width


@pytest.mark.parametrize(
    ("counts", "words"),
    [
        ("", "empty"), ("52\x7f", "outside"), ("5é", "ASCII"), ("52P", "ends inside a number"),
        ("PPPPPPP0", "too long"), ("0@", "negative"),
    ],
)
def test_malformed_compressed_counts_are_refused(counts, words):
    with pytest.raises(ValueError, match=words):
        geometry.compressed_counts(counts)
