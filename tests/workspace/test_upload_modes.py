"""Each upload mode's exact semantics on hand-built objects, transactions, concurrency."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.geometry import mask_to_rle
from sightline.workspace.records import Obj
from sightline.workspace.uploads import UploadMode, parse_threshold, upload_objects

H, W = 100, 200


@pytest.fixture()
def image_id(ws):
    project = ws.create_project("p")
    dataset = ws.create_dataset(project.id, "d")
    return ws.add_image(dataset.id, np.zeros((H, W, 3), np.uint8), name="blank.png").id


def box(x0, y0, x1, y1, cls="square", **kw):
    return Obj(cls, (x0, y0, x1, y1), **kw)


def masked(x0, y0, x1, y1, cls="square", fill=None, **kw):
    m = np.zeros((H, W), bool)
    if fill is None:
        m[y0:y1, x0:x1] = True
    else:
        m[fill] = True
    return Obj(cls, (x0, y0, x1, y1), mask_rle=mask_to_rle(m)["counts"], **kw)


def names(ws, image_id):
    return sorted((o.class_name, o.box) for o in ws.annotations(image_id))


def test_append_adds_everything(ws, image_id):
    ws.add_annotations(image_id, [box(0, 0, 10, 10)])
    r = upload_objects(ws, [box(0, 0, 10, 10), box(50, 50, 60, 60)], UploadMode.APPEND, image_id=image_id)
    assert (r.added, r.replaced, r.skipped_duplicates, r.error) == (2, 0, 0, None)
    assert len(ws.annotations(image_id)) == 3


def test_replace_swaps_all_objects_of_the_image(ws, image_id):
    ws.add_annotations(image_id, [box(0, 0, 10, 10), box(20, 20, 30, 30, "circle")])
    r = upload_objects(ws, [box(50, 50, 60, 60)], UploadMode.REPLACE, image_id=image_id)
    assert (r.added, r.replaced) == (1, 2)
    assert names(ws, image_id) == [("square", (50.0, 50.0, 60.0, 60.0))]


def test_iou_merge_threshold_just_below_and_just_above(ws, image_id):
    ws.add_annotations(image_id, [box(0, 0, 100, 10)])
    # shifted by 5 px: IoU = 95 / 105 = 0.905
    near = box(5, 0, 105, 10)
    r = upload_objects(ws, [near], UploadMode.IOU_MERGE, image_id=image_id, threshold=0.90)
    assert (r.added, r.skipped_duplicates) == (0, 1)
    r = upload_objects(ws, [near], UploadMode.IOU_MERGE, image_id=image_id, threshold=0.91)
    assert (r.added, r.skipped_duplicates) == (1, 0)


def test_iou_merge_is_class_aware(ws, image_id):
    ws.add_annotations(image_id, [box(0, 0, 10, 10, "square")])
    r = upload_objects(ws, [box(0, 0, 10, 10, "circle")], UploadMode.IOU_MERGE, image_id=image_id)
    assert (r.added, r.skipped_duplicates) == (1, 0)


def test_iou_merge_compares_masks_as_masks(ws, image_id):
    # same box, but the masks are the left and the right half: box IoU 1.0, mask IoU 0
    left = np.zeros((H, W), bool)
    left[0:40, 0:20] = True
    right = np.zeros((H, W), bool)
    right[0:40, 20:40] = True
    ws.add_annotations(image_id, [masked(0, 0, 40, 40, fill=left)])
    r = upload_objects(ws, [masked(0, 0, 40, 40, fill=right)], UploadMode.IOU_MERGE, image_id=image_id, threshold=0.5)
    assert (r.added, r.skipped_duplicates) == (1, 0)
    # and the reverse: different boxes, identical masks are duplicates
    r = upload_objects(ws, [masked(0, 0, 60, 60, fill=left)], UploadMode.IOU_MERGE, image_id=image_id, threshold=0.9)
    assert (r.added, r.skipped_duplicates) == (0, 1)


def test_iou_merge_threshold_accepts_int_and_checks_range():
    assert parse_threshold(1) == 1.0 and parse_threshold(0) == 0.0 and parse_threshold(0.75) == 0.75
    for bad in (1.5, -0.1, "0.9", True):
        with pytest.raises(ValueError, match="iou_merge_threshold"):
            parse_threshold(bad)


def test_class_with_other_shape_is_a_clear_error_and_nothing_is_written(ws, image_id):
    ws.add_annotations(image_id, [box(0, 0, 10, 10, "circle")])  # a box class
    before = ws.annotations(image_id)
    r = upload_objects(ws, [box(50, 50, 60, 60), masked(0, 0, 20, 20, "circle")], UploadMode.APPEND, image_id=image_id)
    assert r.added == 0 and r.failed == 2 and "exists in project" in r.error and "'box'" in r.error
    assert ws.annotations(image_id) == before
    assert [c.name for c in ws.classes(ws.image(image_id).project_id)] == ["circle"]  # 'square' was rolled back too


def test_failure_mid_upload_leaves_the_image_as_it_was(ws, image_id, monkeypatch):
    ws.add_annotations(image_id, [box(0, 0, 10, 10), box(20, 20, 30, 30)])
    before = ws.annotations(image_id)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    # fail after the old objects were deleted but before the new ones are written
    monkeypatch.setattr(ws, "rows", explode)
    r = upload_objects(ws, [box(50, 50, 60, 60)], UploadMode.REPLACE, image_id=image_id)
    assert r.error == "RuntimeError: disk full" and r.failed == 1 and r.added == 0
    monkeypatch.undo()
    assert ws.annotations(image_id) == before


def test_two_uploads_at_once_into_one_project(ws):
    project = ws.create_project("busy")
    dataset = ws.create_dataset(project.id, "d")
    ids = [ws.add_image(dataset.id, np.full((H, W, 3), i, np.uint8), name=f"{i}.png").id for i in range(6)]
    errors = []

    def worker(k):
        for image_id in ids:
            r = upload_objects(ws, [box(k, k, k + 10, k + 10, f"class{k}")], UploadMode.APPEND, image_id=image_id)
            if r.error:
                errors.append(r.error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(ws.annotations(i)) == 2 for i in ids)
    assert sorted(c.name for c in ws.classes(project.id)) == ["class1", "class2"]


def test_predict_upload_modes_end_to_end(ws, samples, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, s in enumerate(samples[:3]):
        Image.fromarray(s.image).save(folder / f"{i}.png")
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    created = model.predict(input=folder, upload="create", upload_project="shapes run")
    project = ws.project("shapes run")
    assert project.images == 3 and all(p.project_id == project.id and p.image_id for p in created)
    for p in created:
        stored = ws.annotations(p.image_id)
        assert len(stored) == len(p) and sorted(o.class_name for o in stored) == sorted(p.classes)
        assert stored[0].source == "model" and stored[0].score is not None
        # the stored mask is the predicted mask
        assert (stored[0].mask(*p.image_size) == p.masks[0]).all() or len(p) == 0
    assert np.array_equal(ws.read_image(created[0].image_id), samples[0].image)
    merged = model.predict(project_id=project.id, upload="iou_merge", iou_merge_threshold=1)
    assert all(p.upload["added"] + p.upload["skipped_duplicates"] == len(p) for p in merged)
    assert sum(p.upload["skipped_duplicates"] for p in merged) >= 0.9 * sum(len(p) for p in merged)
    appended = model.predict(image_ids=[created[0].image_id], upload="append")
    assert ws.image(created[0].image_id).annotations == 2 * len(created[0]) + merged[0].upload["added"]
    replaced = model.predict(dataset_id=created[0].dataset_id, upload="replace")
    assert replaced[0].upload["replaced"] == 2 * len(created[0]) + merged[0].upload["added"]
    assert ws.image(created[0].image_id).annotations == len(replaced[0])
    assert appended[0].upload["added"] == len(appended[0])


def test_predict_upload_errors(ws, sample_dir):
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    with pytest.raises(sightline.InputError, match="input must be workspace IDs"):
        model.predict(input=sample_dir, upload="append")
    with pytest.raises(ValueError, match="upload must be one of"):
        model.predict(input=sample_dir, upload="merge")
    with pytest.raises(ValueError, match="iou_merge_threshold only applies with upload="):
        model.predict(input=sample_dir, iou_merge_threshold=0.5)
    with pytest.raises(sightline.InputError, match="exactly one input source"):
        model.predict(input=sample_dir, project_id=1)
    with pytest.raises(sightline.NotFoundError, match="no project 999"):
        model.predict(project_id=999)
    bare = sightline.load("demo/shapes", device="cpu")
    with pytest.raises(sightline.InputError, match="need a workspace"):
        bare.predict(project_id=1)


def test_details_say_per_object_what_iou_merge_does_and_a_preview_says_the_same(ws, image_id):
    ws.add_annotations(image_id, [box(0, 0, 100, 10), box(0, 50, 40, 90, "circle")])
    first, other = (o.id for o in ws.annotations(image_id))
    sent = [box(5, 0, 105, 10), box(0, 50, 40, 90, "square"), box(0, 52, 40, 90, "circle"), box(150, 0, 160, 10, "star")]
    preview = upload_objects(ws, sent, UploadMode.IOU_MERGE, image_id=image_id, threshold=0.9, dry_run=True, details=True)
    assert preview.objects == [
        {"action": "duplicate", "iou": 0.9048, "existing_id": first},  # 95 / 105
        {"action": "added", "iou": None, "existing_id": None},  # no square overlaps it: another class is no duplicate
        {"action": "duplicate", "iou": 0.95, "existing_id": other},
        {"action": "added", "iou": None, "existing_id": None},
    ]
    assert len(ws.annotations(image_id)) == 2  # a preview changes nothing
    done = upload_objects(ws, sent, UploadMode.IOU_MERGE, image_id=image_id, threshold=0.9, details=True)
    assert done.objects == preview.objects and (done.added, done.skipped_duplicates) == (2, 2)
    below = upload_objects(ws, [box(5, 0, 105, 10)], UploadMode.IOU_MERGE, image_id=image_id, threshold=0.95, dry_run=True, details=True)
    assert below.objects == [{"action": "added", "iou": 0.9048, "existing_id": first}]  # the overlap is named, under the threshold
    assert "objects" not in upload_objects(ws, sent, UploadMode.APPEND, image_id=image_id, dry_run=True).to_dict()  # not asked
