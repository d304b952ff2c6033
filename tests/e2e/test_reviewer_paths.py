"""The paths reviewers take that used to break (issue 13, "Broken today"): a dead server mid-run, two
tabs of one browser, a reload right after Run, changing gallery pages, a new run over an old one, a
refresh after a video run, and Preview against Upload for a name already taken."""

from __future__ import annotations

import re
import time

import httpx

import sightline
from sightline.workspace.store import Workspace
from tests.e2e.pages import (
    LONG,
    SAMPLES,
    VIDEO,
    add_images,
    copies,
    open_tab,
    progress,
    run,
    run_sample_video,
    set_number,
    shown,
    text_of,
    thumbnails,
    wait_state,
    wait_text,
    wait_thumbnails,
)

THUMBS = "document.querySelectorAll('#gallery button.thumbnail-item').length"



def new_tab(browser, app_url, context=None):  # type: ignore[no-untyped-def]
    context = context or browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(app_url)
    page.locator("#run").wait_for(timeout=LONG)
    return context, page


def wait_total(page, total: int, *states: str) -> None:
    states = states or ("completed",)
    cond = " || ".join(f"b.dataset.state == '{s}'" for s in states)
    try:
        page.wait_for_function(
            f"(() => {{ const b = document.querySelector('#progress .sl-progress'); return b && b.dataset.total == '{total}' && ({cond}); }})()",
            timeout=LONG,
        )
    except Exception as exc:
        raise AssertionError(f"the run never showed {total} items {' or '.join(states)}: {shown(page)}") from exc


# --- 1: a connected server dies mid-run --------------------------------------------------------------
def test_a_dead_server_is_named_and_the_tab_can_run_again(page, tmp_path):
    other = sightline.deploy("demo/shapes", device="cpu")
    try:
        page.locator("#model-change").get_by_text("Change model").first.click()
        page.locator("#model-change").get_by_role("tab", name="Connect").click()
        page.locator("#server-url textarea, #server-url input").first.fill(other.url)
        page.locator("#connect").click()
        wait_text(page, "model-message", r"Connected to")
        add_images(page, copies(tmp_path, 40))
        set_number(page, "batch-size", 1)
        set_number(page, "img-size", 1536)  # slow pictures: the run outlasts the kill on any machine
        run(page)
        page.wait_for_function("Number(document.querySelector('#progress .sl-progress')?.dataset.done || 0) >= 2", timeout=LONG)
    finally:
        other._process.kill()  # the server dies, as a crashed or closed machine does
        other._process.wait(timeout=30)
    text = wait_text(page, "run-message", r"(?i)server .*(gone|not reachable|could not be reached)", timeout=30_000)
    assert other.url in text
    assert progress(page)[2] != "running"
    kept = thumbnails(page)
    assert kept >= 1, "the results that arrived before the server died are kept"
    page.locator("#stop").click()
    wait_text(page, "run-message", r"Nothing is running")

    page.locator("#use-own").click()
    wait_text(page, "model-card", r"served by this app's server")
    set_number(page, "img-size", 0)
    run(page)
    wait_total(page, 40)
    page.reload()  # the dead run does not come back
    wait_total(page, 40)


# --- 2 and 10: each tab owns its run ----------------------------------------------------------------
def test_each_tab_owns_its_run_and_other_runs_are_listed(browser, app_url, tmp_path):
    context, a = new_tab(browser, app_url)
    try:
        add_images(a, copies(tmp_path, 3, "a"))
        run(a)
        wait_total(a, 3)
        _, b = new_tab(browser, app_url, context)
        assert progress(b)[2] == "", "a new tab starts without a run"
        add_images(b, copies(tmp_path, 2, "b"))
        run(b)
        wait_total(b, 2)

        a.reload()
        wait_total(a, 3)  # its own run, not the other tab's
        b.reload()
        wait_total(b, 2)

        _, c = new_tab(browser, app_url, context)
        time.sleep(2)
        assert progress(c)[2] == "", "a new tab must not take over another tab's run"
        past = "#past-runs [role=row]:not([aria-rowindex='1'])"  # the grid's rows less its header
        rows = c.locator(past)
        c.wait_for_function(f"document.querySelectorAll({past!r}).length == 2", timeout=LONG)
        labels = [rows.nth(k).inner_text() for k in range(rows.count())]
        assert any("3 of 3" in x for x in labels) and any("2 of 2" in x for x in labels), labels
        rows.filter(has_text="3 of 3").first.get_by_text("3 of 3").click()  # opens that run in this tab
        wait_total(c, 3)
    finally:
        context.close()


def load_handler(app_url: str) -> int:
    """The id of the page-load event that takes the tab's and browser's ids (``run_panel.restore``)."""
    config = httpx.get(f"{app_url}/config", timeout=30).json()
    ids = {c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") in ("tab-id", "browser-id")}
    (fn,) = [d["id"] for d in config["dependencies"] if d.get("backend_fn") and ids <= set(d["inputs"]) and len(d["inputs"]) == 3]  # state, tab, browser
    return int(fn)


def test_a_run_started_before_the_page_load_handler_is_this_browsers_and_this_tabs(browser, app_url, tmp_path):
    """Run is answered at once, outside Gradio's queue, so on a busy server it can overtake the queued
    page-load handler: the run must still belong to this browser (its past runs) and this tab (a reload)."""
    fn = load_handler(app_url)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    held: list = []

    def hold_load(route) -> None:  # type: ignore[no-untyped-def]
        if f'"fn_index":{fn},' in (route.request.post_data or "").replace(" ", ""):
            held.append(route)  # answered after Run: the queue was busy
        else:
            route.continue_()

    try:
        page.route("**/queue/join*", hold_load)
        page.goto(app_url)
        page.locator("#run").wait_for(timeout=LONG)
        page.wait_for_function("localStorage.getItem('sightline-browser')", timeout=LONG)
        add_images(page, copies(tmp_path, 2))
        assert held, "the page-load handler was not held back"
        run(page)
        page.wait_for_function(f"{THUMBS} > 0", timeout=LONG)
        for route in held:
            route.continue_()
        page.unroute("**/queue/join*")
        wait_total(page, 2)
        browser_id = page.evaluate("localStorage.getItem('sightline-browser')")
        mine = httpx.get(f"{app_url}/v1/sessions", headers={"X-Sightline-Client": f"page-{browser_id}"}, timeout=30).json()["sessions"]
        assert [s["total"] for s in mine] == [2], f"the run is not this browser's on the server: {mine}"
        page.reload()  # the tab finds its run again
        wait_total(page, 2)
        page.wait_for_function(f"{THUMBS} == 2", timeout=LONG)
    finally:
        context.close()


def state_loaders(app_url: str) -> set[int]:
    """Events that set a tab's state by themselves on page load (Gradio adds one to a ``gr.State`` made with a
    function): queued beside ``restore``, one that finished after it would empty the state it attached a run to."""
    config = httpx.get(f"{app_url}/config", timeout=30).json()
    states = {c["id"] for c in config["components"] if c.get("type") == "state"}
    return {int(d["id"]) for d in config["dependencies"]
            if any(t[1] == "load" for t in d["targets"]) and d["outputs"] and set(d["outputs"]) <= states}


def test_a_reloaded_tab_keeps_its_run_however_its_load_events_finish(browser, app_url, tmp_path):
    """On a busy server the page-load events finish in any order: whichever finishes last, the reloaded tab's
    state is the one ``restore`` attached its run to, so its gallery answers a click."""
    context, page = new_tab(browser, app_url)
    try:
        add_images(page, copies(tmp_path, 2))
        run(page)
        wait_total(page, 2)
        page.wait_for_function(f"{THUMBS} == 2", timeout=LONG)
        loaders, held = state_loaders(app_url), []

        def hold_loader(route) -> None:  # type: ignore[no-untyped-def]
            body = (route.request.post_data or "").replace(" ", "")
            if any(f'"fn_index":{fn},' in body for fn in loaders):
                held.append(route)  # answered after restore: the queue was busy
            else:
                route.continue_()

        page.route("**/queue/join*", hold_loader)
        page.reload()
        wait_total(page, 2)
        page.wait_for_function(f"{THUMBS} == 2", timeout=LONG)
        for route in held:
            route.continue_()
        page.unroute("**/queue/join*")
        time.sleep(2)  # the held events finish
        page.locator("#gallery button.thumbnail-item").nth(1).click()
        wait_text(page, "view-name", r"img_001\.jpg", timeout=30_000)
        wait_total(page, 2)
    finally:
        context.close()


def test_a_reload_right_after_run_keeps_the_new_run(page, tmp_path):
    add_images(page, copies(tmp_path, 5))
    page.locator("#run").click()
    page.reload()
    wait_total(page, 5, "completed", "running", "pending")


# --- 3: selection follows the page ------------------------------------------------------------------
def checked(page) -> list[bool]:
    return page.eval_on_selector_all("#keep input[type=checkbox]", "els => els.map(e => e.checked)")


def test_selection_follows_the_gallery_page_and_the_view_names_its_item(page, tmp_path):
    add_images(page, copies(tmp_path, 65))
    run(page)
    wait_total(page, 65)
    page.wait_for_function(f"{THUMBS} == 60", timeout=LONG)
    page.locator("#gallery button.thumbnail-item").nth(2).click()
    wait_text(page, "view-name", r"img_002\.jpg")
    page.locator("#next-page").click()
    page.wait_for_function(f"{THUMBS} == 5", timeout=LONG)
    # the highlighted tile of page 2 is img_062: the large view and the checkboxes are img_062's too
    assert page.locator("#gallery button.thumbnail-item").nth(2).get_attribute("class").split().count("selected") == 1
    wait_text(page, "view-name", r"img_062\.jpg")
    page.locator("#keep input[type=checkbox]").first.wait_for(timeout=LONG)
    page.locator("#keep label").first.click()  # reject an object of img_062
    wait_text(page, "review-counts", r"1 rejected by hand")
    page.locator("#prev-page").click()
    page.wait_for_function(f"{THUMBS} == 60", timeout=LONG)
    wait_text(page, "view-name", r"img_002\.jpg")
    page.wait_for_function("document.querySelectorAll('#keep input[type=checkbox]').length > 0", timeout=LONG)
    assert all(checked(page)), "the rejection went to img_062, not to img_002"
    page.locator("#next-page").click()
    wait_text(page, "view-name", r"img_062\.jpg")
    page.wait_for_function("document.querySelectorAll('#keep input[type=checkbox]').length > 0", timeout=LONG)
    assert checked(page)[0] is False


# --- 8 and 12: a new run replaces the old one at once; upload waits for the run ----------------------
def test_a_new_run_clears_the_old_one_and_upload_waits_for_it(page, tmp_path):
    add_images(page, SAMPLES[:3])
    run(page)
    wait_total(page, 3)
    captions = "[...document.querySelectorAll('#gallery button.thumbnail-item')].map(b => b.innerText)"
    assert all("shapes_" in c for c in page.evaluate(captions)), "a thumbnail names its file"
    page.locator("#gallery button.thumbnail-item").first.click()
    page.locator("#keep input[type=checkbox]").first.wait_for(timeout=LONG)
    page.locator("#input-files button[aria-label='Clear']").first.click()
    add_images(page, copies(tmp_path, 40, "new"))
    set_number(page, "batch-size", 1)
    set_number(page, "img-size", 1536)
    run(page)
    wait_total(page, 40, "running", "pending")
    # the old run's pictures, objects and counts go at once (the new run's first result may come with the
    # reply to Run, when it is done within a second: then the gallery and the large view show that one)
    page.wait_for_function(
        "[...document.querySelectorAll('#gallery button.thumbnail-item')].every(b => b.innerText.includes('new_'))", timeout=10_000)
    assert "shapes_" not in text_of(page, "view-name")
    assert "in 3 results" not in text_of(page, "review-counts"), text_of(page, "review-counts")
    page.locator("#upload-preview").click()  # Preview said "Nothing to upload" here
    wait_text(page, "upload-summary", r"still going.*then preview what it found")
    page.locator("#upload").click()
    wait_text(page, "upload-summary", r"still going.*then upload what it found")
    wait_text(page, "progress", r"[1-9]\d*s elapsed", timeout=30_000)  # it stayed at 0s until the first result
    page.locator("#stop").click()
    wait_state(page, "stopped")


# --- 7 and 9: a video run after a refresh; one numbering of objects -----------------------------------
def test_the_annotated_video_survives_a_refresh_and_track_ids_read_the_same(page, app_workspace):
    run_sample_video(page, 6)
    wait_total(page, 12)  # every sixth of the 72 frames
    page.locator("#annotated-video video").wait_for(timeout=LONG)
    page.reload()
    wait_state(page, "completed")
    page.locator("#annotated-video video").wait_for(timeout=30_000)

    wait_thumbnails(page, 6)
    page.locator("#gallery button.thumbnail-item").nth(5).click()
    wait_text(page, "view-name", r"moving_shapes\.mp4.*frame 30")
    labels = wait_text(page, "keep", r"track")
    for line in labels.splitlines():
        if "track" in line:  # "#N" means the track id wherever it is shown, as in the picture
            hashes = re.findall(r"#(\d+)", line)
            track = re.search(r"track #?(\d+)", line)
            assert track and set(hashes) <= {track.group(1)}, line

    # 4: create from a video run makes a video item (its frames' objects with track ids), not PNGs per frame
    page.locator("#upload-project textarea, #upload-project input").first.fill("clip from the page")
    page.locator("#upload").click()
    wait_text(page, "upload-summary", r"Project clip from the page now has 0 images and 1 video in")
    app_url = page.url.rstrip("/")
    project = next(p for p in httpx.get(f"{app_url}/v1/projects", timeout=10).json()["projects"] if p["name"] == "clip from the page")
    assert project["videos"] == 1 and project["images"] == 0
    (dataset,) = httpx.get(f"{app_url}/v1/projects/{project['id']}/datasets", timeout=10).json()["datasets"]
    (video,) = httpx.get(f"{app_url}/v1/datasets/{dataset['id']}/images", timeout=10).json()["videos"]
    assert video["name"] == "moving_shapes.mp4" and video["frame_count"] == 72, video  # the video itself, not PNGs of frames
    stored = httpx.get(f"{app_url}/v1/videos/{video['id']}/file", timeout=30).content
    assert stored == VIDEO.read_bytes(), "the video is copied as it is"
    # its objects are stored per frame, by the frame's index in the video, each with its track id
    ws = Workspace(app_workspace)
    try:
        objects = ws.annotations(video_id=video["id"])
    finally:
        ws.close()
    frames = {o.frame_idx for o in objects}
    assert len(frames) > 1 and frames <= set(range(0, 72, 6)), frames
    shown = sorted(int(t) for t in re.findall(r"track #?(\d+)", labels))  # frame 30's objects on the page
    assert shown, labels
    assert sorted(o.track_id for o in objects if o.frame_idx == 30 and o.track_id is not None) == shown


# --- 5: Preview says what Upload will say -------------------------------------------------------------
def test_preview_and_upload_agree_on_a_taken_project_name(page):
    add_images(page, SAMPLES[:2])
    run(page)
    wait_total(page, 2)
    page.locator("#upload-project textarea, #upload-project input").first.fill("taken name")
    page.locator("#upload").click()
    wait_text(page, "upload-summary", r"Uploaded \(create\)")
    page.locator("#upload-preview").click()
    wait_text(page, "upload-summary", r"already exists")
    # the new project is offered in the Workspace tab without "Refresh lists"
    open_tab(page, "Workspace")
    page.locator("#ws-project input").first.click()
    page.get_by_role("option", name=re.compile("taken name")).wait_for(timeout=LONG)


# --- 11: reviewing the end of a long video ---------------------------------------------------------
def long_video(path, frames: int = 3000) -> None:
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for k in range(frames):
            image = np.full((240, 320, 3), 30, dtype=np.uint8)
            x = 10 + (k * 3) % 260
            image[80:140, x:x + 50] = (220, 40, 40)  # a moving square the demo model finds
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_the_end_of_a_long_video_is_reviewed_without_decoding_it_per_tile(page, tmp_path):
    clip = tmp_path / "long_clip.mp4"
    long_video(clip)
    open_tab(page, "Video")
    page.locator("#input-video input[type=file]").set_input_files(str(clip))
    page.locator("#input-video").get_by_text("long_clip").first.wait_for(state="attached", timeout=LONG)
    page.locator("#video-settings").get_by_text("Video").first.click()
    set_number(page, "start-frame", 2940)
    run(page)
    wait_total(page, 60)
    finished = time.monotonic()
    # one tile decoded from the start per frame would take minutes here; a page decoded in one pass, seconds
    page.wait_for_function(f"{THUMBS} == 60", timeout=LONG)  # seconds here; tile by tile it took minutes
    assert "frame 2999:" in text_of(page, "gallery")
    page.locator("#gallery button.thumbnail-item").nth(59).click()
    wait_text(page, "view-name", r"long_clip\.mp4.*frame 2999", timeout=30_000)
    print(f"gallery page of frames 2940-2999 shown {time.monotonic() - finished:.1f} s after the run finished")


# --- 6 and 12: a workspace video is run on its own; the upload mode follows the run ------------------
def test_a_workspace_video_runs_and_a_dataset_of_videos_says_why_not(page):
    from tests.e2e.pages import choose

    open_tab(page, "Workspace")
    choose(page, "ws-project", "Demo shapes")
    run(page)  # the whole project: its images run, and its video is named as left out, not skipped silently
    wait_text(page, "run-message", r"1 video in these datasets is not part of this run: .*pick a video in the list")
    wait_state(page, "completed")
    choose(page, "ws-datasets", "videos")
    run(page)  # a dataset run predicts images only: this one has none, and the page says so
    wait_text(page, "run-message", r"no images: pick the video")
    choose(page, "ws-images", "video: moving_shapes.mp4")
    page.locator("#video-settings").get_by_text("Video").first.click()
    set_number(page, "stride", 12)
    run(page)
    wait_total(page, 6)
    assert "iou_merge" in page.locator("#upload-mode input:checked").first.evaluate("e => e.value")
    wait_text(page, "upload-target", r"Into the images these results came from, in \*?\*?Demo shapes")


# --- 12: smaller things -------------------------------------------------------------------------------
def test_errors_read_whole_and_hints_name_what_to_click(page, start_server):
    other = start_server(api_key="s3cret")
    page.locator("#model-change").get_by_text("Change model").first.click()
    page.locator("#model-change").get_by_role("tab", name="Connect").click()
    page.locator("#server-url textarea, #server-url input").first.fill(other.url)
    page.locator("#server-key input").fill("wrong")
    page.locator("#connect").click()
    assert "Bearer <key>" in wait_text(page, "model-message", r"Could not connect")  # not eaten as an HTML tag

    open_tab(page, "Webcam")
    assert "Click to Access Webcam" in text_of(page, "webcam-stats")

    open_tab(page, "Images")
    add_images(page, SAMPLES[:1])
    run(page)
    wait_total(page, 1)
    page.locator("#gallery button.thumbnail-item").first.click()
    page.locator("#large-view img").first.wait_for(timeout=LONG)
    assert ".png" in (page.locator("#large-view img").first.get_attribute("src") or ""), "Download saves a PNG, not image.webp"
    assert page.locator("#large-view button[aria-label*='hare' i], #large-view button[title*='hare' i]").count() == 0
