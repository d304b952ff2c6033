"""Import/export round trips keep every object: Supervisely format and COCO; YOLO export is readable."""

from __future__ import annotations

import json

import pytest

import sightline
from sightline.workspace.formats.coco import export_coco, import_coco
from sightline.workspace.formats.supervisely import export_project, import_project
from sightline.workspace.formats.yolo import export_yolo
from tests.inputs_helpers import write_supervisely_project


@pytest.fixture()
def predicted_project(ws, sample_dir):
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    model.predict(input=[sample_dir / f"img_{i:02d}.png" for i in range(3)], upload="create", upload_project="src")
    project = ws.project("src")
    # a manual box-only class too, so both geometries travel
    first = ws.images(project_id=project.id)[0]
    ws.add_annotations(first.id, [sightline.workspace.records.Obj("label", (5.0, 6.0, 50.0, 40.0))])
    return project


def _objects(ws, project_id, mask_boxes=True):
    """Per image: class, box and mask area of each object. Supervisely bitmaps carry no box of their
    own (it is the mask's), so ``mask_boxes=False`` leaves the boxes of mask objects out."""
    out = {}
    for img in ws.images(project_id=project_id):
        rows = []
        for o in ws.annotations(img.id):
            area = None if o.mask_rle is None else int(o.mask(img.height, img.width).sum())
            box = tuple(round(v, 1) for v in o.box) if (mask_boxes or area is None) else None
            rows.append((o.class_name, area or 0, box or ()))
        out[img.name] = sorted(rows)
    return out


def _masks(ws, project_id):
    return {
        (img.name, k): o.mask(img.height, img.width)
        for img in ws.images(project_id=project_id)
        for k, o in enumerate(sorted(ws.annotations(img.id), key=lambda o: o.box))
        if o.mask_rle is not None
    }


def test_supervisely_round_trip_keeps_every_object(ws, predicted_project, tmp_path):
    folder = export_project(ws, predicted_project.id, tmp_path / "sly")
    assert json.loads((folder / "meta.json").read_text())["classes"]
    back = import_project(ws, folder, name="back")
    assert _objects(ws, back, mask_boxes=False) == _objects(ws, predicted_project.id, mask_boxes=False)
    def by_mask(pid):
        return sorted((img.name, o.class_name, o.mask_rle) for img in ws.images(project_id=pid) for o in ws.annotations(img.id))

    assert by_mask(back) == by_mask(predicted_project.id)  # every mask, pixel for pixel
    # and sightline can predict on the exported folder as a local project
    preds = sightline.load("demo/shapes", device="cpu").predict(input=folder)
    assert len(preds) == 3 and all(p.ok for p in preds)


def test_coco_round_trip_rle_and_polygons(ws, predicted_project, tmp_path):
    rle_dir = export_coco(ws, predicted_project.id, tmp_path / "coco")
    back = import_coco(ws, rle_dir / "annotations.json", name="coco back")
    assert _objects(ws, back) == _objects(ws, predicted_project.id)
    poly_dir = export_coco(ws, predicted_project.id, tmp_path / "coco_poly", polygons=True)
    data = json.loads((poly_dir / "annotations.json").read_text())
    assert any(isinstance(a.get("segmentation"), list) for a in data["annotations"])
    back_poly = import_coco(ws, poly_dir / "annotations.json", name="poly back")
    # polygons approximate the outline: every object comes back, masks nearly the same
    a, b = _masks(ws, predicted_project.id), _masks(ws, back_poly)
    assert a.keys() == b.keys()
    for k in a:
        inter, union = (a[k] & b[k]).sum(), (a[k] | b[k]).sum()
        assert inter / union > 0.75  # outlines trace pixel centres: small shapes lose most


def test_yolo_export(ws, predicted_project, tmp_path):
    folder = export_yolo(ws, predicted_project.id, tmp_path / "yolo")
    labels = sorted((folder / "labels").glob("*.txt"))
    assert len(labels) == 3 and len(list((folder / "images").iterdir())) == 3
    total = sum(len(f.read_text().splitlines()) for f in labels)
    assert total == sum(img.annotations for img in ws.images(project_id=predicted_project.id))
    for line in (ln for f in labels for ln in f.read_text().splitlines()):
        values = [float(v) for v in line.split()[1:]]
        assert all(0.0 <= v <= 1.0 for v in values) and len(values) >= 4
    assert "names:" in (folder / "data.yaml").read_text()


def test_import_local_supervisely_project_with_nested_datasets(ws, tmp_path, sample_dir):
    project_dir = write_supervisely_project(tmp_path, sample_dir)
    pid = import_project(ws, project_dir)
    assert sorted(d.path for d in ws.datasets(pid)) == ["train", "val", "val/hard"]
    assert ws.project(pid).images == 4


def test_demo_project_is_seeded_once(ws):
    from sightline.workspace.seed import DEMO_PROJECT, seed_demo

    pid = seed_demo(ws)
    assert pid is not None and seed_demo(ws) is None
    project = ws.project(DEMO_PROJECT)
    assert (project.images, project.videos) == (4, 1)
    (video,) = ws.videos(ws.datasets(pid)[1].id)
    assert video.frame_count == 72 and video.fps == 24
