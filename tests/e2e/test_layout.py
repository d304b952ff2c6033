"""The page's layout for a demo and for long runs, the review keys, export, past runs and the smaller
things of issue 13, in Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
import time
import zipfile

import httpx
from PIL import Image

from tests.e2e.pages import (
    LONG,
    SAMPLES,
    add_images,
    copies,
    progress,
    run,
    start_webcam,
    text_of,
    wait_state,
    wait_text,
)

THUMBS = "document.querySelectorAll('#gallery button.thumbnail-item').length"
PAST_ROWS = "#past-runs [role=row]:not([aria-rowindex='1'])"  # the grid's rows less its header
VIEW_PAINTED = "(() => { const i = document.querySelector('#large-view img'); return !!i && i.complete && i.naturalWidth > 0; })()"



def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def checked(page, elem_id: str) -> bool:
    return page.locator(f"#{elem_id} input[type=checkbox]").first.is_checked()


# --- layout ------------------------------------------------------------------------------------------
def test_one_click_example_runs_and_its_result_opens_large(page):
    page.locator("#example-one").click()  # nothing else: no file to pick, no Run to press, no thumbnail to click
    wait_state(page, "completed")
    assert progress(page)[:2] == (1, 1)
    page.wait_for_function(VIEW_PAINTED, timeout=LONG)
    assert "shapes_1.jpg" in text_of(page, "view-name")
    page.wait_for_function(f"{THUMBS} == 1", timeout=LONG)
    assert "selected" in (page.locator("#gallery button.thumbnail-item").first.get_attribute("class") or "")
    view, gallery = box(page, "#large-view"), box(page, "#gallery")
    assert view["width"] > 340 and view["height"] >= 400, view  # large
    assert view["x"] >= gallery["x"] + gallery["width"] - 2 and abs(view["y"] - gallery["y"]) < 120, (view, gallery)  # beside it
    wait_text(page, "key-object", r"Keys act on \*?\*?object 0")


def test_the_video_example_runs_the_sample_video(page):
    page.locator("#example-video").click()
    wait_state(page, "completed")
    assert progress(page)[1] == 72  # every frame of the sample video
    assert page.locator("#input-video").get_by_text("moving_shapes").count() > 0
    page.wait_for_function(VIEW_PAINTED, timeout=LONG)
    assert "frame 0" in text_of(page, "view-name")


def test_run_and_progress_stay_in_view_with_150_files(page, tmp_path):
    add_images(page, copies(tmp_path, 150))
    wait_text(page, "input-message", r"150 images\*?\*? will run")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, f"150 files make the page {height} px tall"
    run_top = box(page, "#run")["y"]
    assert run_top < 900, f"Run is {run_top} px down"
    page.mouse.wheel(0, 10_000)  # to the foot of the page
    page.wait_for_function("window.scrollY > 500", timeout=LONG)
    for selector in ("#run", "#stop", "#progress"):
        y = box(page, selector)["y"]
        assert 0 <= y < 200, f"{selector} is at {y} px after scrolling down"
    run(page)  # pressed from the foot of the page
    page.wait_for_function("Number(document.querySelector('#progress .sl-progress')?.dataset.done || 0) >= 1", timeout=LONG)
    page.locator("#stop").click()
    wait_state(page, "stopped", "completed")

    # more files dropped on the list are added to it, and the page says so
    add_images(page, copies(tmp_path, 2, "more"))
    wait_text(page, "input-message", r"152 images\*?\*? will run: 2 just added to the 150 already in the list")


def test_gallery_captions_are_read_whole(page, tmp_path):
    name = tmp_path / "a_rather_long_file_name_from_camera_two_2026_11_03.jpg"
    shutil.copy(SAMPLES[0], name)
    add_images(page, [name])
    run(page)
    wait_state(page, "completed")
    page.wait_for_function(f"{THUMBS} == 1", timeout=LONG)
    caption = page.locator("#gallery .caption-label").first
    caption.wait_for(timeout=LONG)
    assert "a_rather_long_file_name_from_camera_two_2026_11_03.jpg" in caption.inner_text()
    cut = caption.evaluate("e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1")
    assert not cut, "the caption is cut off"


# --- keyboard ----------------------------------------------------------------------------------------
def test_keys_step_results_accept_reject_and_toggle_masks(page):
    assert "next / previous result" in text_of(page, "key-help")  # the keys are named on the page
    page.locator("#example-images").click()
    wait_state(page, "completed")
    page.wait_for_function(VIEW_PAINTED, timeout=LONG)
    wait_text(page, "view-name", r"shapes_1\.jpg")
    page.locator("body").click(position={"x": 5, "y": 5})  # focus on the page, not in a box
    page.keyboard.press("ArrowRight")
    wait_text(page, "view-name", r"shapes_2\.jpg")
    assert "selected" in (page.locator("#gallery button.thumbnail-item").nth(1).get_attribute("class") or "")
    page.keyboard.press("ArrowLeft")
    wait_text(page, "view-name", r"shapes_1\.jpg")
    page.keyboard.press("ArrowDown")
    wait_text(page, "key-object", r"object 1")
    page.keyboard.press("r")
    wait_text(page, "review-counts", r"1 rejected by hand")
    wait_text(page, "key-object", r"object 1.*\(rejected\)")
    assert not page.locator("#keep input[type=checkbox]").nth(1).is_checked()
    page.keyboard.press("a")
    wait_text(page, "review-counts", r"0 rejected by hand")
    assert checked(page, "show-masks")
    page.keyboard.press("m")
    page.wait_for_function("!document.querySelector('#show-masks input').checked", timeout=LONG)
    page.keyboard.press("m")
    page.wait_for_function("document.querySelector('#show-masks input').checked", timeout=LONG)
    # keys typed into a box are text, not commands
    page.locator("#upload-project input, #upload-project textarea").first.fill("")
    page.locator("#upload-project input, #upload-project textarea").first.type("arm")
    time.sleep(1)
    assert "0 rejected by hand" in text_of(page, "review-counts") and checked(page, "show-masks")
    assert "shapes_1.jpg" in text_of(page, "view-name")


def test_keys_b_and_l_redraw_the_large_view_without_boxes_or_labels(page):
    page.locator("#example-images").click()
    wait_state(page, "completed")
    page.wait_for_function(VIEW_PAINTED, timeout=LONG)
    src = "document.querySelector('#large-view img').src"
    page.locator("body").click(position={"x": 5, "y": 5})
    for key, toggle in (("b", "show-boxes"), ("l", "show-labels")):
        before = page.evaluate(src)
        page.keyboard.press(key)
        page.wait_for_function(f"!document.querySelector('#{toggle} input').checked", timeout=LONG)
        # the large view is drawn again, without that layer: a new picture, painted
        page.wait_for_function(f"{src} !== {before!r}", timeout=LONG)
        page.wait_for_function(VIEW_PAINTED, timeout=LONG)
        page.keyboard.press(key)
        page.wait_for_function(f"document.querySelector('#{toggle} input').checked", timeout=LONG)
    assert "shapes_1.jpg" in text_of(page, "view-name")


# --- export and past runs ------------------------------------------------------------------------------
def test_export_downloads_the_kept_objects(page, app_url):
    page.locator("#example-images").click()
    wait_state(page, "completed")
    page.wait_for_function(VIEW_PAINTED, timeout=LONG)
    page.locator("#keep label").first.click()  # reject one object of the first image
    wait_text(page, "review-counts", r"1 rejected by hand")
    kept = int(re.search(r"\*?\*?(\d+)\*?\*? of \d+ objects", text_of(page, "review-counts")).group(1))
    page.locator("#export-formats").get_by_text("CSV").click()  # COCO JSON is ticked already
    page.locator("#export").click()
    wait_text(page, "export-message", rf"Exported \*?\*?{kept}\*?\*? kept objects of 4 results")
    links = page.locator("#export-files a")
    links.first.wait_for(timeout=LONG)
    hrefs = {(h := links.nth(k).get_attribute("href") or "").rsplit("/", 1)[-1]: h for k in range(links.count())}
    assert {"coco.zip", "objects.csv"} <= set(hrefs), hrefs
    fetch = lambda href: httpx.get(href if href.startswith("http") else f"{app_url}{href}", timeout=30)  # noqa: E731
    with zipfile.ZipFile(io.BytesIO(fetch(hrefs["coco.zip"]).content)) as z:
        assert len(json.loads(z.read("annotations.json"))["annotations"]) == kept
    assert len(fetch(hrefs["objects.csv"]).text.strip().splitlines()) == kept + 1  # a header and one row per object


def test_past_runs_list_model_input_counts_and_open_one(page, tmp_path):
    add_images(page, copies(tmp_path, 3, "first"))
    run(page)
    wait_state(page, "completed")
    page.locator("#example-one").click()
    rows = page.locator(PAST_ROWS)
    # the old run's "completed" is on screen until the new run's reply comes, and its objects column may
    # read "11 of 12": wait for the new run's own row to say it ended
    page.wait_for_function(
        f"(() => {{ const r = document.querySelectorAll({PAST_ROWS!r}); return r.length == 2 && /completed/.test(r[0].innerText); }})()",
        timeout=LONG,
    )
    wait_state(page, "completed")
    first, second = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert "shapes_1.jpg" in first and "(shown)" in first and "demo/shapes" in first and re.search(r"\b1 of 1\b", first), first
    assert "3 images" in second and "3 of 3" in second and "completed" in second, second
    rows.nth(1).get_by_text("3 images").click()  # open the older run in this tab
    page.wait_for_function(f"{THUMBS} == 3", timeout=LONG)
    assert progress(page)[:2] == (3, 3)
    page.wait_for_function(f"document.querySelectorAll({PAST_ROWS!r})[1].innerText.includes('(shown)')", timeout=LONG)


# --- smaller things ----------------------------------------------------------------------------------
def test_a_56_mp_image_is_too_large_not_corrupt(page, tmp_path):
    big = tmp_path / "huge.jpg"
    Image.new("RGB", (7500, 7500), (120, 130, 140)).save(big)
    add_images(page, [big])
    run(page)
    wait_state(page, "completed")
    text = wait_text(page, "review-counts", r"huge\.jpg")
    assert "7500×7500 pixels, over the limit of 50,000,000" in text and "corrupt" not in text


def test_deploying_on_cuda_without_a_gpu_is_refused_in_words(page):
    page.locator("#model-change").get_by_text("Change model").first.click()
    page.locator("#device").get_by_text("cuda").click()
    page.locator("#deploy").click()
    text = wait_text(page, "model-message", r"Could not deploy")
    assert "no usable CUDA GPU" in text and "Deployed" not in text
    assert "device <b>cpu</b>" in page.locator("#model-card").inner_html()  # the tab keeps its model


def test_stopping_the_webcam_is_reported(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"])
    page = context.new_page()
    try:
        page.goto(app_url)
        record = start_webcam(page)
        wait_text(page, "webcam-stats", r"FPS|Waiting for the first prediction")
        record.click()  # stop
        text = wait_text(page, "webcam-stats", r"Webcam stopped")
        assert "Press the record button to predict live again" in text
    finally:
        context.close()


def test_an_error_names_the_file_not_the_servers_temporary_copy(page, tmp_path):
    from tests.e2e.pages import VIDEO, open_tab

    bad = tmp_path / "holiday clip.mp4"
    bad.write_bytes(VIDEO.read_bytes()[:300])  # the start of a video, cut off
    open_tab(page, "Video")
    page.locator("#input-video input[type=file]").set_input_files(str(bad))
    page.locator("#input-video").get_by_text("holiday clip").first.wait_for(state="attached", timeout=LONG)
    run(page)
    text = wait_text(page, "run-message", r"Could not start")
    assert "'holiday clip.mp4' could not be read as a video" in text, text
    assert "/tmp" not in text and "gradio" not in text, f"the server's temporary copy is named: {text}"
