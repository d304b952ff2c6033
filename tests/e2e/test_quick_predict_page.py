"""The page in a real browser: predict uploaded images, and a bad file gives a readable message."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "assets" / "samples").glob("shapes_*.jpg"))


def test_page_shows_the_model_and_predicts_uploads(page):
    page.get_by_text("demo/shapes").first.wait_for(timeout=30_000)
    assert "circle" in page.content() and "triangle" in page.content()
    page.locator("input[type=file]").first.set_input_files([str(s) for s in SAMPLES[:2]])
    page.get_by_role("button", name="Predict").click()
    page.get_by_text("2 of 2 images predicted").wait_for(timeout=120_000)
    assert page.locator("img[src*='/gradio_api/file']").count() + page.locator("[data-testid='gallery'] img").count() > 0
    assert page.get_by_text("shapes_1.jpg").count() > 0


def test_bad_file_is_a_readable_message(page, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a picture")
    page.locator("input[type=file]").first.set_input_files([str(SAMPLES[0]), str(bad)])
    page.get_by_role("button", name="Predict").click()
    page.get_by_text("1 of 2 images predicted").wait_for(timeout=120_000)
    text = page.inner_text("body")
    assert "broken.jpg" in text and "not an image" in text
    assert "Traceback" not in text
