"""Hostile input to the workspace: names, IDs, import files and a full disk give clear errors, never a
write outside a folder or a database crash. Runs on SQLite and on PostgreSQL (see conftest)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

import sightline
from sightline.errors import InputError, InsufficientStorageError, InvalidSettingError, NotFoundError
from sightline.workspace.formats.coco import export_coco, import_coco
from sightline.workspace.formats.supervisely import export_project, import_project
from sightline.workspace.formats.yolo import export_yolo
from sightline.workspace.records import Obj

BAD_NAMES = {
    "..": "'..'",
    ".": "'.'",
    "a/b": "separator",
    "a\\b": "separator",
    "a\x00b": "control character",
    "line\nbreak": "control character",
    "x" * 10_000: "too long",
    "": "empty",
    "   ": "empty",
}
BAD_IDS = [2**31, 2**63, 2**64, -1, 0]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("bad", list(BAD_NAMES))
def test_bad_names_are_refused_everywhere(ws, bad, sample_dir):
    reason = BAD_NAMES[bad]
    with pytest.raises(InvalidSettingError, match=f"project name.*{reason}"):
        ws.create_project(bad)
    p = ws.create_project("ok")
    with pytest.raises(InvalidSettingError, match=f"dataset name.*{reason}"):
        ws.create_dataset(p.id, bad)
    d = ws.create_dataset(p.id, "train")
    with pytest.raises(InvalidSettingError, match=f"image name.*{reason}"):
        ws.add_image(d.id, sample_dir / "img_00.png", name=bad)
    assert [x.name for x in ws.projects()] == ["ok"] and ws.datasets(p.id)[0].images == 0


def test_names_are_stripped_and_bounded(ws):
    assert ws.create_project("  Shapes  ").name == "Shapes"
    long = "é" * 120  # 240 bytes as UTF-8: the bound
    assert ws.create_project(long).name == long
    with pytest.raises(InvalidSettingError, match="too long"):
        ws.create_project("é" * 121)


@pytest.mark.parametrize("bad", [None, 123, 1.5, b"bytes", ["a"]])
def test_project_name_of_the_wrong_type(ws, bad):
    with pytest.raises(InvalidSettingError, match="project name must be text"):
        ws.create_project(bad)


def test_description_and_class_names_are_checked(ws, sample_dir):
    with pytest.raises(InvalidSettingError, match="description.*control character"):
        ws.create_project("p", description="nul\x00")
    p = ws.create_project("p")
    d = ws.create_dataset(p.id, "d")
    img = ws.add_image(d.id, sample_dir / "img_00.png")
    with pytest.raises(InvalidSettingError, match="class name.*control character"):
        ws.add_annotations(img.id, [Obj("cat\x00", (1, 2, 3, 4))])
    with pytest.raises(InvalidSettingError, match="class name.*too long"):
        ws.add_annotations(img.id, [Obj("c" * 300, (1, 2, 3, 4))])
    ws.add_annotations(img.id, [Obj("person/rider", (1, 2, 3, 4))])  # a class is not a file name
    assert [c.name for c in ws.classes(p.id)] == ["person/rider"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_impossible_ids_are_not_found(ws, bad, sample_dir):
    p = ws.create_project("p")
    for call, kind in [
        (lambda: ws.project(bad), "project"),
        (lambda: ws.dataset(bad), "dataset"),
        (lambda: ws.image(bad), "image"),
        (lambda: ws.video(bad), "video"),
        (lambda: ws.image_bytes(bad), "image"),
        (lambda: ws.datasets(bad), "project"),
        (lambda: ws.classes(bad), "project"),
        (lambda: ws.images(dataset_id=bad), "dataset"),
        (lambda: ws.images(project_id=bad), "project"),
        (lambda: ws.videos(bad), "dataset"),
        (lambda: ws.annotations(bad), "image"),
        (lambda: ws.create_dataset(bad, "d"), "project"),
        (lambda: ws.create_dataset(p.id, "d", parent_id=bad), "dataset"),
        (lambda: ws.add_image(bad, sample_dir / "img_00.png"), "dataset"),
    ]:
        with pytest.raises(NotFoundError, match=f"no {kind} {bad}"):
            call()


@pytest.mark.parametrize("bad", [True, "1", 1.0, None])
def test_ids_of_the_wrong_type(ws, bad):
    with pytest.raises(InvalidSettingError, match="dataset_id must be an integer"):
        ws.dataset(bad)


def test_workspace_ids_as_input_out_of_range(ws):
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    # an ID no database can hold is refused as the request is read, naming the argument; one it can is "not found"
    for key, value in [("project_id", 2**63), ("dataset_id", [2**31]), ("image_ids", [1, -1]), ("video_id", 2**40)]:
        with pytest.raises((NotFoundError, InvalidSettingError), match=rf"no (project|dataset|image|video) |{key}\S* must be"):
            model.predict(**{key: value})


# --- import and export --------------------------------------------------------------------------


def _coco(tmp_path: Path, sample_dir: Path, images: list[dict], annotations: list | None = None, categories: list | None = None) -> Path:
    folder = tmp_path / "coco"
    (folder / "images").mkdir(parents=True)
    shutil.copy(sample_dir / "img_00.png", folder / "images" / "img_00.png")
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": annotations or [], "categories": categories or [{"id": 1, "name": "c"}]}))
    return folder / "annotations.json"


def test_coco_file_name_leaving_the_images_folder_is_refused(ws, tmp_path, sample_dir):
    shutil.copy(sample_dir / "img_01.png", tmp_path / "secret.png")
    # each case's images folder is tmp_path/<i>/coco/images: three levels up is tmp_path, where the secret is
    for i, name in enumerate(["../../../secret.png", "sub/../../../../secret.png", str(tmp_path / "secret.png")]):
        ann = _coco(tmp_path / str(i), sample_dir, [{"id": 1, "file_name": "img_00.png", "width": 480, "height": 360},
                                                     {"id": 2, "file_name": name, "width": 480, "height": 360}])
        with pytest.raises(InputError, match=r"images\[1\]\.file_name.*outside"):
            import_coco(ws, ann, name=f"x{i}")
    assert ws.projects() == []  # refused before anything was created


def test_coco_symlink_out_of_the_images_folder_is_refused(ws, tmp_path, sample_dir):
    shutil.copy(sample_dir / "img_01.png", tmp_path / "secret.png")
    ann = _coco(tmp_path, sample_dir, [{"id": 1, "file_name": "link.png", "width": 480, "height": 360}])
    (ann.parent / "images" / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(InputError, match=r"images\[0\]\.file_name.*outside"):
        import_coco(ws, ann)


ONE = [{"id": 1, "file_name": "img_00.png"}]
A = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}


@pytest.mark.parametrize(
    "images, annotations, words",
    [
        ([{"id": 1, "width": 480, "height": 360}], [], r"images\[0\].*file_name"),
        ([{"id": 1, "file_name": 7}], [], r"images\[0\]\.file_name.*text"),
        ([{"file_name": "img_00.png"}], [], r"images\[0\]\.id"),
        ("not a list", [], "images must be a list"),
        (ONE, [A | {"image_id": 99}], r"annotations\[0\]\.image_id.*99"),
        (ONE, [A | {"category_id": 5}], r"annotations\[0\]\.category_id.*5"),
        (ONE, [A | {"bbox": [0, 0, 1]}], r"annotations\[0\]\.bbox"),
        (ONE, [{"id": 1, "image_id": 1, "category_id": 1}], r"annotations\[0\]\.bbox"),
        (ONE, [A | {"segmentation": 5}], r"annotations\[0\]\.segmentation"),
        (ONE, [A | {"segmentation": {"size": [2, 2], "counts": "??"}}], r"annotations\[0\]\.segmentation.*size"),
        (ONE, [A | {"segmentation": {"size": [360, 480], "counts": "??"}}], r"annotations\[0\]\.segmentation.*sum"),
        (ONE, [A | {"segmentation": [[1, 2, 3]]}], r"annotations\[0\]\.segmentation.*polygons"),
        (ONE, ["x"], r"annotations\[0\] must be an object"),
        ([{"id": 1, "file_name": "missing.png"}], [], r"images\[0\]\.file_name.*not found"),
    ],
)
def test_malformed_coco_files_name_the_entry(ws, tmp_path, sample_dir, images, annotations, words):
    ann = _coco(tmp_path, sample_dir, images, annotations)
    with pytest.raises(InputError, match=words):
        import_coco(ws, ann)
    assert ws.projects() == []


def test_coco_not_json_or_bad_categories(ws, tmp_path, sample_dir):
    ann = _coco(tmp_path, sample_dir, [{"id": 1, "file_name": "img_00.png"}], categories=[{"id": 1}])
    with pytest.raises(InputError, match=r"categories\[0\]\.name"):
        import_coco(ws, ann)
    ann.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        import_coco(ws, ann)
    ann.write_text("[]")
    with pytest.raises(InputError, match="must be a JSON object"):
        import_coco(ws, ann)


def test_malformed_supervisely_annotations_name_the_file(ws, tmp_path, sample_dir):
    from tests.inputs_helpers import write_supervisely_project

    project = write_supervisely_project(tmp_path, sample_dir)
    ann = project / "train" / "ann" / "img_00.png.json"
    for content, words in [
        ("{nope", "not valid JSON"),
        (json.dumps({"objects": [{"geometryType": "rectangle"}]}), r"objects\[0\]"),
        (json.dumps({"objects": [{"classTitle": "c", "geometryType": "rectangle", "points": {"exterior": [[1]]}}]}), r"objects\[0\]"),
        (json.dumps({"objects": "x"}), "objects must be a list"),
    ]:
        ann.write_text(content)
        with pytest.raises(InputError, match=f"img_00.png.json.*{words}"):
            import_project(ws, project, name="sly")
        assert ws.projects() == []


def test_supervisely_symlink_out_of_the_project_is_refused(ws, tmp_path, sample_dir):
    from tests.inputs_helpers import write_supervisely_project

    project = write_supervisely_project(tmp_path, sample_dir)
    shutil.copy(sample_dir / "img_05.png", tmp_path / "secret.png")
    (project / "train" / "img" / "zz.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(InputError, match="zz.png.*outside"):
        import_project(ws, project)
    assert ws.projects() == []


def test_exports_write_nothing_outside_their_folder(ws, tmp_path, sample_dir):
    """Names stored before validation existed (written straight into the database) still cannot make
    an exporter leave its folder."""
    from sightline.workspace.schema import Dataset, Image

    p = ws.create_project("p")
    d = ws.create_dataset(p.id, "d")
    img = ws.add_image(d.id, sample_dir / "img_00.png")
    ws.add_annotations(img.id, [Obj("c", (1, 2, 30, 40))])
    out = tmp_path / "a" / "b" / "c" / "d" / "exports"
    out.mkdir(parents=True)
    for row, row_id, value in [(Dataset, d.id, "../../../.."), (Image, img.id, "../../../../escaped.png")]:
        with ws.transaction() as s:
            original = s.get(row, row_id).name
            s.get(row, row_id).name = value
        before = _files(tmp_path)
        refused = 0
        for export, folder in [(export_coco, out / "coco"), (export_project, out / "sly"), (export_yolo, out / "yolo")]:
            try:
                export(ws, p.id, folder)
            except InputError as exc:
                assert "outside" in str(exc) and value in str(exc)
                refused += 1
        escaped = {f for f in _files(tmp_path) - before if out not in f.parents}
        assert not escaped, sorted(map(str, escaped))
        assert refused >= 1
        with ws.transaction() as s:
            s.get(row, row_id).name = original


REAL_FDOPEN = os.fdopen


def full_disk_fdopen(fd, mode):
    """``os.fdopen`` on a full disk: the file opens, its write fails with ENOSPC."""

    class Full:
        def __enter__(self):
            self.file = REAL_FDOPEN(fd, mode)
            return self

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __exit__(self, *exc):
            self.file.close()

    return Full()


def test_full_disk_is_a_clear_typed_error(ws, sample_dir, monkeypatch):
    p = ws.create_project("p")
    d = ws.create_dataset(p.id, "d")

    monkeypatch.setattr("sightline.workspace.blobs.os.fdopen", full_disk_fdopen)
    with pytest.raises(InsufficientStorageError, match="no space left"):
        ws.add_image(d.id, sample_dir / "img_00.png")
    assert ws.dataset(d.id).images == 0
    assert not [f for f in ws.blobs.root.rglob("*") if f.is_file()]  # no half-written temp file is left
