"""Review beyond accept/reject, in the browser (issue 13): a workspace video's frames drawn in the gallery,
fixing objects with the box editor, a workspace image's existing labels beside the predictions with what
the upload mode will do to each object, and the gallery's filters."""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

from sightline.ui.render import failed_tile
from tests.e2e.pages import LONG, choose, open_tab, run, set_number, wait_state, wait_text

TILES = "#gallery button.thumbnail-item img"


def tile_pixels(page, k: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    src = page.locator(TILES).nth(k).get_attribute("src")
    data = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def is_failed_tile(pixels: np.ndarray) -> bool:
    tile = failed_tile()
    return pixels.shape == tile.shape and float(np.abs(pixels.astype(int) - tile.astype(int)).mean()) < 3


def run_workspace_video(page) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "Workspace")
    choose(page, "ws-project", "Demo shapes")
    choose(page, "ws-datasets", "videos")
    choose(page, "ws-images", "video: moving_shapes.mp4")
    page.locator("#video-settings").get_by_text("Video").first.click()
    set_number(page, "stride", 12)
    run(page)
    wait_state(page, "completed")


def test_a_workspace_videos_frames_are_drawn_in_the_gallery(page):
    run_workspace_video(page)
    page.wait_for_function(f"document.querySelectorAll('{TILES}').length == 6", timeout=LONG)
    for k in range(6):
        assert not is_failed_tile(tile_pixels(page, k)), f"tile {k} is drawn as a failed item"
    page.locator("#gallery button.thumbnail-item").nth(2).click()  # the first result opened by itself: wait for this one
    page.locator("#large-view img").first.wait_for(timeout=LONG)
    assert re.search(r"moving_shapes\.mp4.*frame 24", wait_text(page, "view-name", r"frame 24")), "a workspace video is named by its name"


def run_workspace_images(page) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "Workspace")
    choose(page, "ws-project", "Demo shapes")
    run(page)
    wait_state(page, "completed")
    page.wait_for_function(f"document.querySelectorAll('{TILES}').length == 4", timeout=LONG)


def test_existing_labels_say_what_each_mode_does_before_upload(page):

    run_workspace_images(page)
    page.locator("#gallery button.thumbnail-item").first.click()
    note = wait_text(page, "existing-note", r"Image \d+: \*?\*?0\*?\*? existing objects")
    found = int(note.split("existing objects, ")[1].split(" predicted")[0].strip("*"))
    wait_text(page, "view-name", r"\(workspace image \d+\)")  # the large view names the workspace image
    assert found >= 1 and "iou_merge would add" in note.replace("*", "")
    page.locator("#upload-mode").get_by_text("append:").click()
    page.locator("#upload").click()
    wait_text(page, "upload-summary", r"Uploaded")
    page.locator("#upload-mode").get_by_text("iou_merge:").click()
    # the append note after the upload already reads "N existing objects": wait for the iou_merge one
    note = wait_text(page, "existing-note", rf"\*?\*?{found}\*?\*? existing objects.*iou_merge would")
    assert f"skip {found} duplicates" in note.replace("*", "")
    assert re.search(r"skipped: duplicate of #\d+ \(IoU (0\.\d\d|1\.00) ≥ 0\.50\)", page.locator("#existing-objects").inner_text())


def test_filters_show_only_the_items_asked_for(page, tmp_path):
    from tests.e2e.pages import SAMPLES, add_images, wait_text

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    blank = tmp_path / "blank.jpg"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(blank)  # nothing on it to find
    add_images(page, [*SAMPLES[:3], blank, broken])
    run(page)
    wait_state(page, "completed")
    page.wait_for_function(f"document.querySelectorAll('{TILES}').length == 5", timeout=LONG)
    page.locator("#filter-show").get_by_text("only items with no objects").click()
    wait_text(page, "page-info", r"1 of 5 results match \(only items with no objects\)")
    page.wait_for_function(f"document.querySelectorAll('{TILES}').length == 1", timeout=LONG)
    assert "blank.jpg" in page.locator("#gallery").inner_text()
    page.locator("#filter-show").get_by_text("only failed items").click()
    wait_text(page, "page-info", r"1 of 5 results match \(only failed items\)")
    page.wait_for_function(f"document.querySelectorAll('{TILES}').length == 1", timeout=LONG)
    assert "broken.jpg: failed" in page.locator("#gallery").inner_text()
    page.locator("#filter-show").get_by_text("all items").click()
    wait_text(page, "page-info", r"results 1–5 of 5")
    set_number(page, "filter-high", 0.1)  # the run kept objects scored 0.25 or more: none matches
    wait_text(page, "page-info", r"0 of 5 results match")
    set_number(page, "filter-high", 1)
    choose(page, "filter-classes", "circle")
    text = wait_text(page, "page-info", r"results match \(items with an object of class circle\)")
    assert int(text.split(" of 5 results")[0].split("· ")[-1]) >= 1
