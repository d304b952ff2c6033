"""Every input kind gives the right predictions with the right source fields; bad items fail alone."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.inputs.resolve import plan_input
from sightline.paths import SAMPLES_DIR
from sightline.settings import InputOptions
from tests.conftest import matched_fraction
from tests.inputs_helpers import write_supervisely_project


def test_single_path(demo_model, sample_dir, samples):
    (pred,) = demo_model.predict(input=str(sample_dir / "img_00.png"))
    assert pred.error is None
    assert pred.image_path == str(sample_dir / "img_00.png") == pred.source
    assert pred.image_size == (360, 480)
    assert matched_fraction(pred, samples[0]) >= 0.75


def test_pathlib_path_and_folder_in_order(demo_model, sample_dir, samples):
    preds = demo_model.predict(input=sample_dir)
    assert [Path(p.image_path).name for p in preds] == [f"img_{i:02d}.png" for i in range(len(samples))]
    assert [p.index for p in preds] == list(range(len(samples)))
    assert np.mean([matched_fraction(p, s) for p, s in zip(preds, samples)]) >= 0.8


def test_folder_recursive_only_when_asked(demo_model, tmp_path, sample_dir):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(sample_dir / "img_00.png", tmp_path / "top.png")
    shutil.copy(sample_dir / "img_01.png", tmp_path / "sub" / "a.png")
    shutil.copy(sample_dir / "img_02.png", tmp_path / "sub" / "deeper" / "b.jpg.png")
    (tmp_path / "notes.txt").write_text("not an image, and not named like one: skipped")
    flat = demo_model.predict(input=tmp_path)
    deep = demo_model.predict(input=tmp_path, recursive=True)
    assert [Path(p.image_path).name for p in flat] == ["top.png"]
    assert sorted(Path(p.image_path).name for p in deep) == ["a.png", "b.jpg.png", "top.png"]


def test_numpy_rgb_array_matches_file(demo_model, samples, sample_dir):
    (from_array,) = demo_model.predict(input=samples[1].image)
    (from_file,) = demo_model.predict(input=sample_dir / "img_01.png")
    assert from_array.source == "<array>"
    assert from_array.image is samples[1].image or np.array_equal(from_array.image, samples[1].image)
    np.testing.assert_allclose(from_array.boxes, from_file.boxes, atol=1e-3)
    assert from_array.classes == from_file.classes


@pytest.mark.parametrize("kind", ["gray", "gray1", "rgba", "uint16", "float"])
def test_array_variants_are_converted(demo_model, samples, kind):
    rgb = samples[2].image
    array = {
        "gray": rgb.mean(axis=2).astype(np.uint8),
        "gray1": rgb.mean(axis=2, keepdims=True).astype(np.uint8),
        "rgba": np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2),
        "uint16": rgb.astype(np.uint16) * 257,
        "float": rgb.astype(np.float32) / 255,
    }[kind]
    (pred,) = demo_model.predict(input=array)
    assert pred.error is None
    assert pred.image.shape == (360, 480, 3) and pred.image.dtype == np.uint8
    if kind in ("rgba", "uint16", "float"):  # lossless conversions: same pixels, same result
        assert np.array_equal(pred.image, rgb)
        assert matched_fraction(pred, samples[2]) >= 0.75
    else:
        assert len(pred) > 0  # shapes stay findable in gray


def test_stack_of_arrays_is_several_images(demo_model, samples):
    stack = np.stack([samples[0].image, samples[1].image])
    preds = demo_model.predict(input=stack)
    assert [p.source for p in preds] == ["<array>[0]", "<array>[1]"]


def test_pil_image_and_bytes(demo_model, samples, sample_dir):
    pil = Image.fromarray(samples[3].image)
    data = (sample_dir / "img_03.png").read_bytes()
    p_pil, p_bytes = demo_model.predict(input=[pil, data])
    assert p_pil.source == "<PIL image #0>" and p_bytes.source == "<bytes #1>"
    np.testing.assert_allclose(p_pil.boxes, p_bytes.boxes, atol=1e-3)


def test_url(demo_model, file_server, samples):
    (pred,) = demo_model.predict(input=f"{file_server}/img_04.png")
    assert pred.error is None and pred.image_url == f"{file_server}/img_04.png"
    assert matched_fraction(pred, samples[4]) >= 0.75
    assert pred.load_image().shape == (360, 480, 3)


def test_broken_url_fails_that_item_only(demo_model, file_server):
    preds = demo_model.predict(input=[f"{file_server}/missing.png", f"{file_server}/img_00.png", "http://127.0.0.1:9/x.png"])
    assert "HTTP 404" in preds[0].error
    assert preds[1].error is None and len(preds[1]) > 0
    assert "could not connect" in preds[2].error


def test_mixed_list_keeps_order_and_kinds(demo_model, samples, sample_dir, file_server):
    preds = demo_model.predict(
        input=[str(sample_dir / "img_00.png"), samples[1].image, f"{file_server}/img_02.png", Image.fromarray(samples[3].image)],
    )
    assert [p.index for p in preds] == [0, 1, 2, 3]
    assert preds[0].image_path and preds[1].source == "<array #1>" and preds[2].image_url and preds[3].source.startswith("<PIL")
    assert all(p.error is None for p in preds)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jpg", b"", "empty"),
        ("text.png", b"hello, I am not a picture", "not an image"),
        ("truncated.png", None, "corrupt or truncated"),
    ],
)
def test_bad_file_in_folder_fails_alone(demo_model, tmp_path, sample_dir, name, content, reason):
    good = sample_dir / "img_00.png"
    shutil.copy(good, tmp_path / "a_good.png")
    shutil.copy(good, tmp_path / "z_good.png")
    (tmp_path / name).write_bytes(content if content is not None else good.read_bytes()[:2000])
    session = demo_model.predict_detached(input=tmp_path)
    preds = list(session)
    assert [Path(p.source).name for p in preds] == ["a_good.png", name, "z_good.png"]
    bad = preds[1]
    assert reason in bad.error and len(bad) == 0 and bad.image_size is None
    assert preds[0].error is None and preds[2].error is None and len(preds[0]) > 0
    status = session.status()
    assert status.state is sightline.SessionState.COMPLETED
    assert (status.done, status.total, status.failed) == (3, 3, 1)


def test_missing_file_in_a_list_fails_alone(demo_model, sample_dir, tmp_path):
    preds = demo_model.predict(input=[tmp_path / "gone.png", sample_dir / "img_00.png"])
    assert "does not exist" in preds[0].error
    assert preds[1].ok


def test_folder_plan_is_lazy(tmp_path, sample_dir):
    for i in range(300):
        (tmp_path / f"{i:04d}.png").symlink_to(sample_dir / "img_00.png")
    plan = plan_input(str(tmp_path), InputOptions())
    assert plan.total == 300
    items = iter(plan)
    first = next(items)
    assert first.image is None and first.load is not None  # nothing decoded until the engine asks
    assert first.load().shape == (360, 480, 3)


def test_local_supervisely_project(demo_model, tmp_path, sample_dir):
    project = write_supervisely_project(tmp_path, sample_dir)
    preds = demo_model.predict(input=project)
    assert [p.source for p in preds] == [
        "my_project/train/img_00.png",
        "my_project/train/img_01.png",
        "my_project/val/img_02.png",
        "my_project/val/hard/img_03.png",
    ]
    assert all(p.ok and p.image_path for p in preds)


def test_supervisely_project_with_bad_meta_is_a_clear_error(demo_model, tmp_path, sample_dir):
    project = write_supervisely_project(tmp_path, sample_dir)
    (project / "meta.json").write_text("{broken")
    with pytest.raises(sightline.InputError, match="meta.json is not valid JSON"):
        demo_model.predict(input=project)


def test_videos_in_a_folder_are_named_in_a_warning(demo_model, tmp_path, sample_dir):
    shutil.copy(sample_dir / "img_00.png", tmp_path / "a.png")
    shutil.copy(SAMPLES_DIR / "moving_shapes.mp4", tmp_path / "clip.mp4")
    with pytest.warns(UserWarning, match=r"skipped 1 video in folder .*: clip\.mp4; give a video's path to predict its frames"):
        preds = demo_model.predict(str(tmp_path))
    assert [Path(p.image_path).name for p in preds] == ["a.png"]


def test_only_documented_formats_are_opened_and_any_decoder_error_is_an_image_decode_error(monkeypatch):
    """EPS would run Ghostscript on the sender's PostScript; crafted files make rarer decoders raise anything."""
    from sightline.inputs import images

    with pytest.raises(images.ImageDecodeError, match="not an image in a format"):
        images.decode_image_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(images.ImageDecodeError, match="not an image in a format"):
        images.decode_image_bytes(b"qoif\x00\x00\x00\x04\x00\x00\x00\x04\x03\x00" + b"\xfe" * 20)

    def broken(*args, **kwargs):
        raise IndexError("index out of range")

    monkeypatch.setattr(Image.Image, "getexif", broken)  # read for every image (its orientation)
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    with pytest.raises(images.ImageDecodeError, match="corrupt or truncated"):
        images.decode_image_bytes(png.getvalue())


def test_an_upright_rgb_file_is_decoded_without_extra_copies(monkeypatch, samples):
    """An RGB PNG or JPEG without EXIF rotation goes from decoder to array in one copy (the array's own):
    no ``exif_transpose`` or ``convert`` copy that changes nothing (both paths pay these on every image)."""
    from sightline.inputs.images import decode_image_bytes

    copies: list[str] = []
    real_copy, real_convert = Image.Image.copy, Image.Image.convert
    monkeypatch.setattr(Image.Image, "copy", lambda self: copies.append("copy") or real_copy(self))
    monkeypatch.setattr(Image.Image, "convert", lambda self, *a, **k: copies.append("convert") or real_convert(self, *a, **k))
    image = samples[0].image
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt)
        rgb = decode_image_bytes(buf.getvalue())
        assert rgb.shape == image.shape and rgb.dtype == np.uint8
        if fmt == "PNG":
            assert (rgb == image).all()
    assert copies == []
    # an image that does need a change still gets it: a palette PNG is converted, a rotated JPEG turned upright
    buf = io.BytesIO()
    Image.fromarray(image).convert("P").save(buf, format="PNG")
    copies.clear()
    assert decode_image_bytes(buf.getvalue()).shape == image.shape and copies == ["convert"]
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", exif=exif.tobytes())
    assert decode_image_bytes(buf.getvalue()).shape == (image.shape[1], image.shape[0], 3)
