"""The minimal page's handler: real predictions, readable problems, no tracebacks."""

from __future__ import annotations

from sightline.ui.app import build_ui
from sightline.ui.quick_predict import predict_files


def test_handler_predicts_and_reports_bad_files(demo_model, sample_dir, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    gallery, rows, message = predict_files(demo_model, [str(sample_dir / "img_00.png"), str(bad)], 0.5)
    assert len(gallery) == 1 and gallery[0][0].shape == (360, 480, 3)
    assert rows and all(r[0] == "img_00.png" and r[1] in demo_model.classes for r in rows)
    assert "1 of 2 images predicted" in message and "**broken.jpg**" in message and "Traceback" not in message


def test_handler_asks_for_input_when_empty(demo_model):
    assert predict_files(demo_model, None, 0.5) == ([], [], "Add one or more images first.")


def test_app_builds(demo_model):
    app = build_ui(demo_model, demo_model.info)
    assert app.title == "sightline"
