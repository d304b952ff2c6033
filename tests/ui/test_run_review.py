"""Run panel (start, tick until the end, stop, restore after a refresh) and review panel (gallery, large view,
rejecting objects, the confidence slider) on real sessions."""

from __future__ import annotations

import os
import time

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from sightline.paths import SAMPLES_DIR
from sightline.ui import review_panel, run_panel
from sightline.ui.context import OWN_LABEL
from sightline.ui.render import THUMB_SIDE
from sightline.ui.state import Run
from tests.ui.conftest import is_skip, progress_attrs, settings, sources, tick_until_final, timer_active


def objects(n: int) -> str:
    return f"{n} object{'s' if n != 1 else ''}"


def start(ctx, state, src, **values):  # type: ignore[no-untyped-def]
    return run_panel.start(ctx, state, src, settings(**values))


@pytest.fixture(scope="module")
def finished(ctx, sample_dir):  # type: ignore[no-untyped-def]
    """One tab that ran the model over four sample images to the end, and every tick it saw."""
    state = ctx.new_user()
    files = [str(sample_dir / f"img_{i:02d}.png") for i in range(4)]
    state.tab, state.browser = "tab-0000001", "browser-0001"
    state, progress, message, timer, past = start(ctx, state, sources(files=files), conf=0.25)
    assert message == "" and timer_active(timer) and state.run is not None and state.run.id
    assert [r[-1] for r in past["value"]] == [state.run.id] and past["value"][0][2] == "4 images"
    assert "data-state=" in progress
    return state, tick_until_final(state, conf=0.0, page_size=3)


def test_a_run_fills_the_gallery_and_finishes(finished, ctx):
    state, ticks = finished
    run = state.run
    progress, gallery, page, counts, message, timer, video = ticks[-1]
    assert progress_attrs(progress) == {"state": "completed", "done": "4", "total": "4"} and "Finished" in progress
    assert not timer_active(timer) and is_skip(message) and is_skip(video)  # no annotated video for images
    assert len(run.predictions) == 4 and all(p.error is None and len(p) > 0 for p in run.predictions)
    assert run.conf == 0.25 and all(p.scores.min() >= 0.25 for p in run.predictions)
    assert page == "Page 1 of 2 · results 1–3 of 4" and len(gallery) == 3
    for (path, caption), pred in zip(gallery, run.predictions):
        assert os.path.exists(path) and caption == f"{os.path.basename(pred.image_path or pred.source)}: {objects(len(pred))}"
    found = sum(len(p) for p in run.predictions)
    assert counts.startswith(f"**{found}** of {found} objects in 4 results will be uploaded (confidence ≥ 0.00, 0 rejected")
    assert ctx.runs.get(run.id) is run
    # a tick after the end (a restored page's first) shows the same and keeps the timer off
    again = run_panel.tick(state, 0.0, 3)
    assert progress_attrs(again[0]) == progress_attrs(progress)
    assert again[1] == gallery and again[3] == counts and not timer_active(again[5]) and len(run.predictions) == 4


def test_pages_of_the_gallery(finished):
    state, _ = finished
    state.selected = 0
    state = review_panel.turn_page(state, 1, 3)
    gallery, label, _ = review_panel.refresh(state, 0.0, 3)
    assert label == "Page 2 of 2 · results 4–4 of 4" and len(gallery) == 1
    assert state.selected == 3  # the selection follows the gallery's highlighted place onto the new page
    state = review_panel.turn_page(state, 5, 3)  # past the end: clamped to the last page
    assert review_panel.refresh(state, 0.0, 3)[1] == "Page 2 of 2 · results 4–4 of 4" and state.page == 1
    state = review_panel.turn_page(state, -9, 3)
    assert review_panel.refresh(state, 0.0, 3)[1].startswith("Page 1 of 2") and state.page == 0 and state.selected == 0
    state.selected = 2
    assert review_panel.turn_page(state, 1, 3).selected is None  # the new page has no third item: nothing is selected
    state.page, state.selected = 0, None
    # picking the first picture of page 2 selects the fourth result
    state.page = 1
    state = review_panel.select(state, 3, gr.SelectData(None, {"index": 0, "value": None}))
    assert state.selected == 3
    state.page = 0


def test_review_rejects_objects_and_filters_by_confidence(finished):
    state, _ = finished
    run = state.run
    run.rejected.clear()
    position = max(range(4), key=lambda k: len(run.predictions[k]))
    pred = run.predictions[position]
    n = len(pred)
    assert n >= 2
    state.selected = position

    image, name, keep, rows, counts = review_panel.show(state, 0.0, True, True, True)
    assert os.path.basename(pred.image_path) in name  # the large view names its item
    assert image.shape[:2] == pred.image_size and image.dtype == np.uint8
    assert [i for _, i in keep["choices"]] == list(range(n)) and keep["value"] == list(range(n))
    assert [r[0] for r in rows] == list(range(n)) and all(r[-1] == "yes" for r in rows)
    plain, *_ = review_panel.show(state, 0.0, False, False, False)
    assert not np.array_equal(plain, image)  # the toggles change the drawing

    total = sum(len(p) for p in run.predictions)
    state = review_panel.set_kept(state, 0.0, list(range(1, n)))  # untick object #0
    assert run.rejected == {position: {0}}
    _, _, keep, rows, counts = review_panel.show(state, 0.0, True, True, True)
    assert keep["value"] == list(range(1, n)) and rows[0][-1] == "rejected"
    assert counts.startswith(f"**{total - 1}** of {total} objects in 4 results") and "1 rejected by hand" in counts
    assert review_panel.counts(run, 0.0) == counts
    reviewed = run.reviewed(0.0)
    assert len(reviewed) == 4 and len(reviewed[position]) == n - 1
    assert np.array_equal(reviewed[position].boxes, pred.boxes[1:])

    # a high review confidence hides objects: from the view, the counts and what an upload sends
    high = float(np.sort(pred.scores)[-1])  # only the best object of this image passes
    _, _, keep, rows, counts = review_panel.show(state, high, True, True, True)
    best = int(np.argmax(pred.scores))
    assert [i for _, i in keep["choices"]] == [best] and len(rows) == 1
    kept = sum(int((p.scores >= high).sum()) for p in run.predictions) - (1 if pred.scores[0] >= high else 0)
    assert counts.startswith(f"**{kept}** of {total} objects") and f"confidence ≥ {high:.2f}" in counts
    assert sum(len(p) for p in run.reviewed(high)) == kept < total - 1
    assert review_panel.thumbnail(run, position, high)[1].endswith(": " + objects(len(run.reviewed(high)[position])))

    # unticking at a high confidence does not undo rejections of hidden objects; ticking all back clears them
    state = review_panel.set_kept(state, high, [best])
    assert run.rejected.get(position, set()) == ({0} if best != 0 else set())
    state = review_panel.set_kept(state, 0.0, list(range(n)))
    assert position not in run.rejected and review_panel.counts(run, 0.0).startswith(f"**{total}** of {total}")


def test_thumbnails_are_drawn_once_per_look(finished):
    state, _ = finished
    run = state.run
    path, caption = review_panel.thumbnail(run, 0, 0.0)
    assert max(Image.open(path).size) <= THUMB_SIDE
    mtime = os.stat(path).st_mtime_ns
    assert review_panel.thumbnail(run, 0, 0.0) == (path, caption) and os.stat(path).st_mtime_ns == mtime
    run.rejected[0] = {0}
    try:
        other, caption2 = review_panel.thumbnail(run, 0, 0.0)
        assert other != path and caption2 != caption
    finally:
        run.rejected.pop(0)


def test_restore_after_a_refresh_finds_the_same_run(finished, ctx):
    state, _ = finished
    fresh, progress, timer, _, _, past = run_panel.restore(ctx, None, state.tab, state.browser)
    assert fresh is not state and fresh.run is state.run and timer_active(timer)  # the next tick shows the end
    assert [r[-1] for r in past["value"]] == [state.run.id] and "(shown)" in past["value"][0][0]
    assert progress_attrs(progress) == {"state": "completed", "done": "4", "total": "4"}
    *_, timer, _ = run_panel.tick(fresh, 0.0, 3)
    assert not timer_active(timer)

    # another tab of the same browser starts empty, with this run in its list of past runs
    other, progress, timer, _, _, past = run_panel.restore(ctx, None, "tab-0000002", state.browser)
    assert other.run is None and not timer_active(timer) and "No run yet" in progress
    assert [r[-1] for r in past["value"]] == [state.run.id] and "(shown)" not in past["value"][0][0]
    opened = run_panel.open_run(ctx, other, state.run.id)
    assert other.run is state.run and progress_attrs(opened[1])["state"] == "completed"
    assert run_panel.restore(ctx, None, "tab-0000002", state.browser)[0].run is state.run  # a reload keeps what it opened
    for tab, browser in (("no-such-tab-id", "no-such-browser"), (None, None), ("<script>", "../../etc")):
        fresh, progress, timer, _, _, past = run_panel.restore(ctx, None, tab, browser)
        assert fresh.run is None and not timer_active(timer) and "No run yet" in progress and past["value"] == []
        assert fresh.connection.label == OWN_LABEL
        assert run_panel.open_run(ctx, fresh, state.run.id)[0].run is None  # another browser's run is not opened


def test_a_tick_that_overlaps_opening_another_run_sends_nothing_of_either(ctx, sample_dir, monkeypatch):
    """The page's timer fires while the visitor opens another run in the tab: that tick read the old run's
    progress and would draw the new run's gallery under it (the browser showed "1 of 1" over 3 results)."""
    tab = ctx.new_user()
    tab.tab, tab.browser = "tab-0000031", "browser-0031"
    tab, *_ = start(ctx, tab, sources(files=[str(sample_dir / f"img_{i:02d}.png") for i in range(3)]))
    older = tab.run
    tick_until_final(tab, page_size=3)
    tab, *_ = start(ctx, tab, sources(files=[str(sample_dir / "img_00.png")]))
    newer = tab.run
    assert newer is not older
    tick_until_final(tab, page_size=3)
    pull = newer.pull

    def pull_while_the_other_run_opens() -> int:
        got = pull()
        run_panel.open_run(ctx, tab, older.id)  # the click's handler, on another thread of Gradio's
        return got

    monkeypatch.setattr(newer, "pull", pull_while_the_other_run_opens)
    out = run_panel.tick(tab, 0.0, 3)
    assert tab.run is older
    assert all(is_skip(v) for v in out), out  # the open's own outputs show the older run
    monkeypatch.undo()
    progress, gallery, *_ = run_panel.tick(tab, 0.0, 3)
    assert progress_attrs(progress)["done"] == "3" and len(gallery) == 3


def test_start_needs_an_input_and_refuses_bad_settings(ctx, state):
    for src, values, needle in [
        (sources(kind="images"), {}, "Add one or more images"),
        (sources(kind="urls", urls="file:///etc/passwd"), {}, "is not a web address"),
        (sources(kind="workspace", project=1), {"classes": []}, "Tick at least one class"),
        (sources(kind="workspace", project=1), {"classes": ["dog"]}, "['dog'] are not classes of this model"),
    ]:
        state, progress, message, timer, past = start(ctx, state, src, **values)
        assert message.startswith("**Could not start:**") and needle in message, message
        assert state.run is None and is_skip(progress) and is_skip(timer) and is_skip(past)
    out = run_panel.tick(state, 0.0, 60)
    assert "No run yet" in out[0] and not timer_active(out[5])
    assert run_panel.stop(state) == "Nothing is running."


def test_stop_keeps_what_is_finished(ctx, state, sample_dir):
    files = [str(sample_dir / "img_00.png")] * 60
    state, _, message, timer, _ = start(ctx, state, sources(files=files), batch_size=1)
    assert message == "" and timer_active(timer)
    again = start(ctx, state, sources(files=files))
    assert again[2] == "A run is still going: stop it first, or wait for it to finish." and again[0].run is state.run
    run = state.run
    deadline = time.monotonic() + 30
    while run.status().done < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert run_panel.stop(state) == "Stopping after the batch in flight; finished results stay."
    progress, gallery, page, counts, message, timer, video = tick_until_final(state)[-1]
    attrs = progress_attrs(progress)
    done = int(attrs["done"])
    assert attrs["state"] == "stopped" and "Stopped" in progress and 0 < done < 60 and attrs["total"] == "60"
    assert message == "Stopped: the results finished before the stop are kept below."
    assert len(run.predictions) == done and all(p.error is None for p in run.predictions)
    assert len(gallery) == min(done, 60) and f"in {done} results" in counts
    assert run_panel.stop(state) == "Nothing is running."


def test_a_broken_url_fails_alone(ctx, state, file_server):
    urls = f"{file_server}/img_00.png\n{file_server}/missing.png\nhttp://127.0.0.1:1/gone.png\n{file_server}/img_01.png"
    state, _, message, timer, _ = start(ctx, state, sources(kind="urls", urls=urls))
    assert message == "" and timer_active(timer)
    progress, gallery, page, counts, message, timer, video = tick_until_final(state)[-1]
    run = state.run
    assert [p.error is None for p in run.predictions] == [True, False, False, True]
    assert progress_attrs(progress)["state"] == "completed" and "2 failed" in progress
    assert "2 item(s) could not be used:" in counts and "in 2 results" in counts
    for line, name in zip(counts.split("could not be used:")[1].strip().splitlines(), ["missing.png", "gone.png"]):
        assert line.startswith(f"- **{name}**: ") and len(line) > len(name) + 10 and "Traceback" not in line
    assert "404" in run.predictions[1].error
    first, last = objects(len(run.predictions[0])), objects(len(run.predictions[3]))
    assert [c for _, c in gallery] == [f"img_00.png: {first}", "missing.png: failed", "gone.png: failed", f"img_01.png: {last}"]
    # the large view of a failed item says why instead of drawing
    state.selected = 1
    image, _, keep, rows, text = review_panel.show(state, 0.0, True, True, True)
    assert image is None and keep["choices"] == [] and text.startswith("**missing.png** could not be used:")
    assert len(run.reviewed(0.0)) == 2  # an upload sends only what worked


def test_a_video_run_ends_with_the_annotated_video(ctx, state, sample_video):
    state, _, message, _, _ = start(ctx, state, sources(kind="video", video=str(sample_video)), stride=12, tracking=True)
    assert message == ""
    progress, gallery, page, counts, message, timer, video = tick_until_final(state)[-1]
    run = state.run
    frames = [p.frame_idx for p in run.predictions]
    assert progress_attrs(progress)["state"] == "completed" and frames == list(range(0, 72, 12))
    assert video["visible"] is True and os.path.getsize(video["value"]) > 0 and run.annotated_video == video["value"]
    assert [c.split(":")[0] for _, c in gallery] == [f"frame {f}" for f in frames]
    state.selected = 2  # the large view reads the frame back from the page's own copy of the video
    image, *_ = review_panel.show(state, 0.0, True, True, True)
    assert image.shape[:2] == (360, 480)


def test_a_gallery_page_of_a_video_decodes_the_video_once(ctx, sample_video, monkeypatch):
    """Tiles of frames 0, 12, ..., 60 read one by one decode 1 + 13 + ... + 61 frames; a page, one pass."""
    import sightline.video.decode as decode

    state = ctx.new_user()
    state, *_ = start(ctx, state, sources(kind="video", video=str(sample_video)), stride=12, tracking=False)
    tick_until_final(state)
    run = state.run
    for thumb in run.folder.glob("*.jpg"):  # drawn by the ticks already: draw the page again from the video
        thumb.unlink()
    decoded = []  # frames each call decodes: a pass always starts at the video's first frame
    real = decode.decode_frames

    def counting(path, frames, **options):  # type: ignore[no-untyped-def]
        decoded.append(frames[-1] + 1 if len(frames) else 0)
        return real(path, frames, **options)

    monkeypatch.setattr(decode, "decode_frames", counting)
    gallery, _, _ = review_panel.refresh(state, 0.0, 60)
    assert [c.split(":")[0] for _, c in gallery] == [f"frame {f}" for f in range(0, 72, 12)]
    assert sum(decoded) <= 61, f"decoded {sum(decoded)} frames for a page of 6 tiles up to frame 60"


def test_a_page_and_the_large_view_near_the_end_of_a_video_decode_from_a_keyframe(ctx, upload_folder, monkeypatch):
    """On a video with a keyframe every 30 frames, a gallery page of frames 120-149 and the large view of
    one of them start decoding at keyframe 120, not at frame 0 (counted, not timed)."""
    import av

    import sightline.video.decode as decode

    video = upload_folder / "keyframed.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "g": "30", "keyint_min": "30", "sc_threshold": "0"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for k in range(150):
            image = np.full((240, 320, 3), 40, dtype=np.uint8)
            image[80:160, 10 + k:70 + k] = (220, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    state = ctx.new_user()
    state, _, message, _, _ = start(ctx, state, sources(kind="video", video=str(video)), start_frame=120, stride=3, tracking=False)
    assert message == ""
    tick_until_final(state)
    run = state.run
    assert [p.frame_idx for p in run.predictions] == list(range(120, 150, 3))
    for thumb in run.folder.glob("*.jpg"):  # drawn by the ticks already: draw the page again from the video
        thumb.unlink()
    run.extras.clear()
    calls: list[tuple[range, decode.DecodeStats]] = []
    real = decode.decode_frames

    def recording(path, frames, stats=None, **options):  # type: ignore[no-untyped-def]
        calls.append((frames, stats if stats is not None else decode.DecodeStats()))
        return real(path, frames, calls[-1][1], **options)

    monkeypatch.setattr(decode, "decode_frames", recording)
    gallery, _, _ = review_panel.refresh(state, 0.0, 60)
    assert [c.split(":")[0] for _, c in gallery] == [f"frame {f}" for f in range(120, 150, 3)]
    state.selected = 9  # frame 147: the large view reads it alone
    image, title, *_ = review_panel.show(state, 0.0, True, True, True)
    assert image.shape[:2] == (240, 320) and "frame 147" in title
    assert [frames for frames, _ in calls] == [range(120, 148), range(147, 148)]
    assert [s.started_at for _, s in calls] == [120, 120]
    assert all(s.packets_decoded <= 30 + 1 for _, s in calls), calls


def test_the_registry_forgets_old_runs_and_deletes_their_files(tmp_path):
    from sightline.ui.state import RunRegistry

    class FakeSession:  # only the id and nothing else is read by the registry
        def __init__(self, sid: str) -> None:
            self.id = sid

    registry = RunRegistry(keep=2)
    runs = [Run(FakeSession(f"s{k}"), None, "images", 0.5, folder=tmp_path / f"run{k}") for k in range(3)]  # type: ignore[arg-type]
    for run in runs:
        run.folder.mkdir()
        (run.folder / "thumb.jpg").write_bytes(b"x")
        registry.add(run)
    assert registry.get("s0") is None and not runs[0].folder.exists()
    assert registry.get("s2") is runs[2] and runs[2].folder.exists()


def test_a_new_tab_state_copies_without_copying_the_connection(ctx):
    import copy

    ctx.own.workspace.projects()  # a used handle holds locks, which cannot be copied
    state = copy.deepcopy(ctx.new_user())  # what Gradio does for each new tab
    assert state.connection.model is ctx.own and state.run is None


def test_previews_come_small_from_local_jpegs_and_the_workspace(ctx, ws_server):
    from sightline.ui.state import preview_pixels

    _, project_id = ws_server
    dataset = next(d for d in ctx.own.workspace.datasets(project_id) if d.images)
    image = ctx.own.workspace.images(dataset.id)[0]
    from_workspace = ctx.own.predict(image_ids=[image.id])[0]
    small = preview_pixels(ctx.own, from_workspace, None, THUMB_SIDE)
    assert max(small.shape[:2]) <= THUMB_SIDE and small.shape[1] / small.shape[0] == pytest.approx(image.width / image.height, rel=0.02)
    local = ctx.own.predict(input=[str(SAMPLES_DIR / "shapes_1.jpg")])[0]  # 640x480: a half-scale decode fits
    small = preview_pixels(ctx.own, local, None, THUMB_SIDE)
    h, w = local.image_size
    assert THUMB_SIDE <= max(small.shape[:2]) < max(h, w)  # decoded at reduced scale, never below the thumbnail size


def test_errors_name_uploaded_files_without_temp_paths_and_keep_angle_brackets():
    import tempfile

    from sightline.ui.state import describe

    where = f"{tempfile.gettempdir()}/gradio/0a1b2c3d/holiday photo.jpg"
    text = describe(ValueError(f"cannot identify image file '{where}'"))
    assert "holiday photo.jpg" in text and tempfile.gettempdir() not in text
    assert describe(ValueError("missing or wrong API key: send 'Authorization: Bearer <key>'")).endswith("Bearer &lt;key&gt;'")
    assert describe(ValueError("see https://example.com/a/b.jpg")) == "see https://example.com/a/b.jpg"
