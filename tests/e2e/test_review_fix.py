"""Review beyond accept/reject, in the browser (issue 13): a workspace video's frames drawn in the gallery,
fixing objects with the box editor, a workspace image's existing labels beside the predictions with what
the upload mode will do to each object, and the gallery's filters."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from sightline.ui.render import failed_tile
from tests.e2e.pages import LONG, choose, open_tab, run, set_number, wait_state

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
    page.locator("#gallery button.thumbnail-item").nth(2).click()
    page.locator("#large-view img").first.wait_for(timeout=LONG)
    assert "frame 24" in page.locator("#view-name").inner_text()
