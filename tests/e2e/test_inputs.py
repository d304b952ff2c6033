"""Each input kind from the page: a video (annotated video played back), URLs with a broken one, refused
inputs (a new error replaces the old), a file that is not an image, and the webcam with Chromium's fake camera."""

from __future__ import annotations

import re

from tests.e2e.pages import (
    LONG,
    SAMPLES,
    add_images,
    open_tab,
    progress,
    run,
    run_sample_video,
    start_webcam,
    text_of,
    wait_state,
    wait_text,
)


def test_video_runs_with_tracking_and_plays_annotated(page):
    run_sample_video(page, 2)
    wait_state(page, "completed")
    done, total, _ = progress(page)
    assert done == total == 36  # every second frame of the 72 of the sample video
    video = page.locator("#annotated-video video")
    video.wait_for(timeout=LONG)
    assert "/gradio_api/file" in (video.get_attribute("src") or "")
    page.wait_for_function("document.querySelector('#annotated-video video').readyState >= 1", timeout=LONG)
    assert page.evaluate("document.querySelector('#annotated-video video').duration") > 2.5  # 36 frames at 12 fps
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length == 36", timeout=LONG)
    assert "frame 10:" in text_of(page, "gallery")  # every second frame: 0, 2, 4, ...
    page.locator("#gallery button.thumbnail-item").nth(10).click()
    wait_text(page, "keep", r"track #\d+")  # tracked objects carry their track id


def test_urls_with_a_broken_one_fail_only_that_item(page, file_server):
    open_tab(page, "URLs")
    good = [f"{file_server}/img_00.png", f"{file_server}/img_01.png"]
    page.locator("#input-urls textarea").fill("\n".join([*good, f"{file_server}/missing.jpg"]))
    run(page)
    wait_state(page, "completed")
    assert progress(page)[:2] == (3, 3)
    text = wait_text(page, "review-counts", r"could not be used")
    assert "missing.jpg" in text and "404" in text
    assert "1 item(s) could not be used" in text and "img_00.png" not in text
    assert "1 failed" in text_of(page, "progress")
    assert "Traceback" not in page.inner_text("body")
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length == 3", timeout=LONG)
    page.locator("#gallery button.thumbnail-item").nth(1).click()
    wait_text(page, "view-name", re.escape(good[1]))  # the large view names the URL it shows


def test_not_a_web_address_is_refused_before_running(page):
    open_tab(page, "URLs")
    page.locator("#input-urls textarea").fill("ftp://example.com/x.jpg")
    run(page)
    text = wait_text(page, "run-message", r"Could not start")
    assert "ftp://example.com/x.jpg" in text and "http" in text


def test_a_new_error_replaces_the_old_one_and_a_good_run_clears_it(page):
    open_tab(page, "URLs")
    urls = page.locator("#input-urls textarea")
    urls.fill("ftp://example.com/first.jpg")
    run(page)
    wait_text(page, "run-message", r"first\.jpg")
    urls.fill("gopher://example.com/second.jpg")
    run(page)
    text = wait_text(page, "run-message", r"second\.jpg")
    assert "first.jpg" not in text, "the old error is replaced, not left under the new one"

    add_images(page, SAMPLES[:1])
    run(page)
    wait_state(page, "completed")
    assert "Could not start" not in text_of(page, "run-message")


def test_a_file_that_is_not_an_image_is_a_readable_error(page, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a picture")
    add_images(page, [SAMPLES[0], bad])
    run(page)
    wait_state(page, "completed")
    text = wait_text(page, "review-counts", r"could not be used")
    assert "broken.jpg" in text and "not an image" in text
    assert "/tmp" not in text and "gradio" not in text, "the file is named, not the server's temporary copy of it"
    assert "1 failed" in text_of(page, "progress")
    assert "Traceback" not in page.inner_text("body")


def test_webcam_predicts_live_with_fps(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"])
    page = context.new_page()
    try:
        page.goto(app_url)
        record = start_webcam(page)
        text = wait_text(page, "webcam-stats", r"\d+\.\d FPS")
        assert "objects" in text
        page.locator("#webcam-output img").wait_for(timeout=LONG)
        record.click()  # stop streaming
    finally:
        context.close()
