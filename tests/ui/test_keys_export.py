"""The first result opening large, one-click examples, the review keys, the export panel and the list of
past runs, driven as the page drives them, on real sessions of the demo model."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio.utils import get_upload_folder, is_in_or_equal

from sightline.ui import examples_panel, export_panel, input_panel, keys, run_panel
from tests.ui.conftest import settings, sources, tick_until_final

LOOK = (True, True, True)  # boxes, masks, labels


def run_to_end(ctx, state, src, page_size=60, **values):  # type: ignore[no-untyped-def]
    state, _, message, _, _ = run_panel.start(ctx, state, src, settings(**values))
    assert message == "", message
    tick_until_final(state, page_size=page_size)
    return state


@pytest.fixture(scope="module")
def images_run(ctx, sample_dir):  # type: ignore[no-untyped-def]
    """A tab that ran seven images (three gallery pages of three)."""
    state = ctx.new_user()
    state.tab, state.browser = "tab-keys-0001", "browser-keys-01"
    files = [str(sample_dir / f"img_{i % 4:02d}.png") for i in range(7)]
    return run_to_end(ctx, state, sources(files=files), page_size=3, conf=0.25)


def test_the_first_result_opens_large_without_a_click(ctx, sample_dir):
    state = ctx.new_user()
    state, *_ = run_panel.start(ctx, state, sources(files=[str(sample_dir / "img_00.png")]), settings())
    ticks = tick_until_final(state)
    first = next(t for t in ticks if not isinstance(t[1], dict) or t[1] != {"__type__": "update"})
    gallery, view, name, keep, table = run_panel.show_first(state, 0.25, LOOK, first[1])
    assert state.selected == 0 and isinstance(view, np.ndarray) and view.shape[:2] == state.run.predictions[0].image_size
    assert "img_00.png" in name and gallery["selected_index"] == 0 and gallery["value"] == first[1]
    assert keep["value"] == list(range(len(state.run.predictions[0])))
    # once per run: a reviewer who then looks elsewhere is not pulled back
    state.selected = None
    assert run_panel.show_first(state, 0.25, LOOK, []) == ([], *(gr.skip(),) * 4)


def test_examples_put_the_samples_in_the_input_as_uploads(ctx, state):
    kind, files, video, tabs = examples_panel.pick("example-images")
    assert kind == "images" and len(files) == 4 and tabs.selected == "images"
    assert all(is_in_or_equal(f, get_upload_folder()) and Path(f).stat().st_size > 0 for f in files)
    chosen = input_panel.choose(ctx, state, kind, files, None, None, None, None, None)  # the run takes them
    assert chosen.kind == "images" and chosen.label == "4 images"
    kind, files, video, tabs = examples_panel.pick("example-video")
    assert kind == "video" and video.endswith("moving_shapes.mp4") and tabs.selected == "video"
    assert input_panel.choose(ctx, state, kind, None, video, None, None, None, None).video_source == video


def test_dropped_files_are_counted_not_added_silently():
    assert input_panel.files_note(["a.jpg", "b.jpg"], []) == ("**2 images** will run.", ["a.jpg", "b.jpg"])
    note, now = input_panel.files_note(["a.jpg", "b.jpg", "c.jpg"], ["a.jpg", "b.jpg"])
    assert note.startswith("**3 images** will run: 1 just added to the 2 already in the list") and now == ["a.jpg", "b.jpg", "c.jpg"]
    assert input_panel.files_note(None, ["a.jpg"]) == ("", [])


def test_keys_step_through_results_across_gallery_pages(images_run):
    state = images_run
    state.selected, state.page = None, 0
    out = keys.step_result(state, 1, 3, 0.25, *LOOK)
    gallery, label, view, name, *_, focus = out
    assert state.selected == 0 and gallery["selected_index"] == 0 and "value" not in gallery and label == gr.skip()
    assert isinstance(view, np.ndarray) and "object 0" in focus
    for _ in range(3):
        gallery, label, *_ = keys.step_result(state, 1, 3, 0.25, *LOOK)
    # the fourth result is on page 2: the gallery shows that page with its first picture highlighted
    assert state.selected == 3 and state.page == 1 and gallery["selected_index"] == 0 and len(gallery["value"]) == 3
    assert label.startswith("Page 2 of 3")
    for _ in range(10):
        keys.step_result(state, 1, 3, 0.25, *LOOK)
    assert state.selected == 6 and state.page == 2  # stops at the last result
    gallery, label, *_ = keys.step_result(state, -1, 3, 0.25, *LOOK)
    assert state.selected == 5 and state.page == 1 and gallery["selected_index"] == 2


def test_keys_accept_and_reject_the_focused_object(images_run):
    state = images_run
    run = state.run
    run.rejected.clear()
    state.selected = max(range(len(run.predictions)), key=lambda k: len(run.predictions[k]))
    state.focus = None
    n = len(run.predictions[state.selected])
    assert n >= 2
    assert "object 1" in keys.step_object(state, 1, 0.25)
    assert "object 1" in keys.step_object(state, 5, 0.25) if n == 2 else True
    state.focus = (state.selected, 1)
    gallery, view, name, keep, table, counts, focus = keys.judge(state, False, 3, 0.25, *LOOK)
    assert run.rejected == {state.selected: {1}} and 1 not in keep["value"] and "1 rejected by hand" in counts
    assert "(rejected)" in focus and gallery["selected_index"] == state.selected - state.page * 3
    assert len(run.reviewed(0.25)[state.selected]) == n - 1  # what an upload and an export send
    *_, counts, focus = keys.judge(state, True, 3, 0.25, *LOOK)
    assert run.rejected == {} and "0 rejected by hand" in counts and "(kept)" in focus
    # the focus belongs to one result: another result starts at its first object
    keys.step_result(state, 1 if state.selected < len(run.predictions) - 1 else -1, 3, 0.25, *LOOK)
    assert keys.focused(state, 0.25) == 0


def test_export_writes_what_the_review_keeps(images_run):
    state = images_run
    run = state.run
    run.rejected.clear()
    position = max(range(len(run.predictions)), key=lambda k: len(run.predictions[k]))
    run.rejected[position] = {0}
    kept = sum(len(p) for p in run.reviewed(0.25))
    try:
        files, text = export_panel.export(state, ["coco", "yolo", "supervisely", "csv", "annotated"], 0.25)
    finally:
        run.rejected.clear()
    names = sorted(Path(f).name for f in files)
    assert names == ["annotated.zip", "coco.zip", "objects.csv", "supervisely.zip", "yolo.zip"], text
    assert f"Exported **{kept}** kept objects of 7 results" in text
    with zipfile.ZipFile(next(f for f in files if f.endswith("coco.zip"))) as z:
        coco = json.loads(z.read("annotations.json"))
        assert len(coco["images"]) == 7 and len(coco["annotations"]) == kept
        assert sum(1 for n in z.namelist() if n.startswith("images/") and not n.endswith("/")) == 7
    with zipfile.ZipFile(next(f for f in files if f.endswith("yolo.zip"))) as z:
        labels = [n for n in z.namelist() if n.startswith("labels/") and n.endswith(".txt")]
        assert len(labels) == 7 and sum(len(z.read(n).decode().splitlines()) for n in labels) == kept
    with open(next(f for f in files if f.endswith(".csv"))) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == kept and {"x_min", "class_name", "confidence", "item"} <= set(rows[0])
    assert min(float(r["confidence"]) for r in rows) >= 0.25
    with zipfile.ZipFile(next(f for f in files if f.endswith("annotated.zip"))) as z:
        assert len(z.namelist()) == 7 and all(n.endswith(".jpg") for n in z.namelist())


def test_export_says_what_does_not_fit(ctx, images_run):
    assert export_panel.export(ctx.new_user(), ["coco"], 0.25) == (None, "Nothing to export yet: run the model first.")
    assert export_panel.export(images_run, [], 0.25) == (None, "Tick one or more formats first.")
    files, text = export_panel.export(images_run, ["coco", "timeline"], 0.25)
    assert files is None and "**timeline JSON (video)** cannot be exported from a run on images" in text


def test_export_of_a_video_run(ctx, sample_video):
    state = run_to_end(ctx, ctx.new_user(), sources(kind="video", video=str(sample_video)), stride=4)
    run = state.run
    files, text = export_panel.export(state, ["coco"], 0.0)
    assert files is None and "cannot be exported from a video run" in text
    files, text = export_panel.export(state, ["timeline", "video", "csv"], 0.0)
    assert sorted(Path(f).name for f in files) == ["annotated.mp4", "objects.csv", "timeline.json"], text
    timeline = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    tracks = {int(t) for p in run.predictions if p.track_ids is not None for t in p.track_ids if t >= 0}
    assert tracks and {int(o["track_id"]) for o in timeline["objects"]} == tracks
    with open(next(f for f in files if f.endswith(".csv"))) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(len(p) for p in run.predictions) and all(r["frame"] != "" for r in rows)
    assert Path(next(f for f in files if f.endswith(".mp4"))).stat().st_size > 1000


def _region_change(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> float:
    """Mean absolute difference of two pictures inside ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return float(np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int)).mean())


def test_the_exported_video_and_timeline_show_only_what_the_review_keeps(ctx, sample_video):
    """Rejected objects are not drawn in the exported video nor listed in the timeline; a fixed (moved) box
    is drawn where the reviewer put it. The video the run drew shows every object: it is not the export."""
    import av

    from sightline.ui import edits
    from sightline.video.decode import read_frame

    state = run_to_end(ctx, ctx.new_user(), sources(kind="video", video=str(sample_video)), stride=4)
    run = state.run
    found = [k for k, p in enumerate(run.predictions) if p.error is None and len(p)]
    rejected, moved, untouched = found[2], found[len(found) // 2], found[-2]
    run.rejected[rejected] = set(range(len(run.predictions[rejected])))
    pred = run.predictions[moved]
    old_box = pred.boxes[0].copy()
    height, width = pred.image_size
    new_box = np.array([width - 70.0, height - 70.0, width - 10.0, height - 10.0])  # a corner no object is in
    assert not any(b[0] < new_box[2] and new_box[0] < b[2] and b[1] < new_box[3] and new_box[1] < b[3] for b in pred.boxes)
    fixes = edits.Fixes({0: (pred.classes[0], tuple(float(v) for v in new_box))}, set(), [])
    run.edit(moved, *edits.apply_fixes(pred, fixes, list(run.model.info.classes)))
    files, text = export_panel.export(state, ["timeline", "video"], 0.0)
    assert files is not None, text
    reviewed = run.reviewed(0.0)
    with av.open(next(f for f in files if f.endswith(".mp4"))) as video:
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(frames) == len(reviewed)
    at = {int(p.frame_idx): n for n, p in enumerate(reviewed)}

    def change(position: int, box: np.ndarray) -> float:
        idx = int(run.predictions[position].frame_idx)
        return _region_change(frames[at[idx]], read_frame(str(sample_video), idx), box)

    for box in run.predictions[rejected].boxes:  # as in the source: nothing drawn over them
        assert change(rejected, box) < 6, f"a rejected object is drawn in the exported video ({change(rejected, box):.1f})"
    for box in run.predictions[untouched].boxes:  # drawn (a filled mask and a box): far from the source
        assert change(untouched, box) > 15
    assert change(moved, new_box) > 15, "the fixed box is not drawn where the reviewer put it"
    timeline = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    seen_at = {o["frame_idx"] for t in timeline["objects"] for o in t["observations"] if o is not None}
    assert int(run.predictions[rejected].frame_idx) not in seen_at and int(run.predictions[untouched].frame_idx) in seen_at
    moved_seen = [o for t in timeline["objects"] for o in t["observations"] if o is not None and o["frame_idx"] == run.predictions[moved].frame_idx]
    assert [round(v) for v in new_box] in [[round(v) for v in o["box"]] for o in moved_seen]
    assert not np.allclose(old_box, new_box)


def test_past_runs_show_model_input_when_and_counts(ctx, images_run):
    state = images_run
    fresh, *_, past = run_panel.restore(ctx, None, "tab-keys-0002", state.browser)
    rows = past["value"]
    assert len(rows) == 1
    when, model, label, status, results, objects, failed, run_id = rows[0]
    found = sum(len(p) for p in state.run.predictions)
    assert (model, label, status, results, objects, failed, run_id) == ("demo/shapes", "7 images", "completed", "7 of 7", str(found), 0,
                                                                     state.run.id)
    assert when.count(":") == 2 and "(shown)" not in when  # this new tab shows no run yet
    evt = gr.SelectData(None, {"index": [0, 2], "value": label, "row_value": rows[0]})
    opened = run_panel.open_run(ctx, fresh, run_panel.past_id(evt))
    assert fresh.run is state.run and "(shown)" in opened[-1]["value"][0][0]


def test_redraw_with_my_review_draws_a_new_video_each_time_whatever_is_in_the_run_folder(ctx, sample_video):
    """Two redraws of one run (a double click, or the run opened in two tabs) each get a folder of their own,
    even when the run folder's count of earlier redraws does not match their numbers."""
    from sightline.ui import video_player

    state = run_to_end(ctx, ctx.new_user(), sources(kind="video", video=str(sample_video)), stride=12)
    (state.run.folder / "reviewed-video-2").mkdir(parents=True)  # the number the next redraw would count to
    first, note = video_player.redraw(state, 0.0)
    assert note == gr.skip() and Path(first["value"]).name == video_player.REVIEWED, note
    second, note = video_player.redraw(state, 0.0)
    assert note == gr.skip() and Path(second["value"]).stat().st_size > 1000 and second["value"] != first["value"], note
