"""Review beyond accept/reject (issue 13): thumbnails of a workspace video's frames, fixing objects (class,
box, delete), the workspace image's existing labels with what the upload mode will do to each object,
and filters of the gallery."""

from __future__ import annotations

import numpy as np
import pytest

from sightline.ui import review_panel, run_panel
from sightline.ui.render import failed_tile
from tests.ui.conftest import settings, sources, tick_until_final


def run_to_end(ctx, src, **values):  # type: ignore[no-untyped-def]
    state, _, message, _, _ = run_panel.start(ctx, ctx.new_user(), src, settings(**values))
    assert "Could not start" not in message and state.run is not None, message  # a project run may name the videos it leaves out
    tick_until_final(state)
    return state


def is_failed_tile(path: str) -> bool:
    from PIL import Image

    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB"))
    tile = failed_tile()
    return pixels.shape == tile.shape and float(np.abs(pixels.astype(int) - tile.astype(int)).mean()) < 3


def workspace_video(ctx, project_id):  # type: ignore[no-untyped-def]
    for d in ctx.own.workspace.datasets(project_id):
        for v in ctx.own.workspace.videos(d.id):
            return v
    raise AssertionError("the demo project has no video")


# --- "Broken today" 6: a workspace video's frames are drawn in the gallery and the large view ----------
def test_thumbnails_of_a_workspace_videos_frames_are_drawn(ctx, ws_server):
    video = workspace_video(ctx, ws_server[1])
    state = run_to_end(ctx, sources(kind="workspace", project=ws_server[1], images=[f"video:{video.id}"]), stride=12)
    run = state.run
    assert [p.frame_idx for p in run.predictions] == list(range(0, 72, 12)) and all(p.error is None for p in run.predictions)
    gallery, _, _ = review_panel.refresh(state, 0.0, 60)
    assert len(gallery) == 6 and not any(is_failed_tile(path) for path, _ in gallery), "frames drawn as hatched failed tiles"
    state.selected = 3
    image, title, *_ = review_panel.show(state, 0.0, True, True, True)
    assert image is not None and image.shape[:2] == (video.height, video.width) and "frame 36" in title


def test_a_workspace_video_on_a_server_elsewhere_is_drawn_from_one_copy_in_one_pass(ctx, ws_server, monkeypatch):
    """The server's path of its stored video means nothing on another machine; tiles read through it one by
    one also decoded the video from its start each time (1 + 13 + ... + 61 frames for one page)."""
    import sightline.video.decode as decode

    video = workspace_video(ctx, ws_server[1])
    state = run_to_end(ctx, sources(kind="workspace", project=ws_server[1], images=[f"video:{video.id}"]), stride=12)
    run = state.run
    for p in run.predictions:  # as a server on another machine names it: a path that does not exist here
        p.video_path = "/srv/elsewhere/blobs/" + p.video_path.rsplit("/", 1)[-1]
    for thumb in run.folder.glob("*.jpg"):  # drawn by the ticks already: draw the page again
        thumb.unlink()
    run.extras.clear()
    decoded = []
    real = decode.decode_frames

    def counting(path, frames, **options):  # type: ignore[no-untyped-def]
        decoded.append(frames[-1] + 1 if len(frames) else 0)
        return real(path, frames, **options)

    monkeypatch.setattr(decode, "decode_frames", counting)
    gallery, _, _ = review_panel.refresh(state, 0.0, 60)
    assert not any(is_failed_tile(path) for path, _ in gallery), "frames drawn as hatched failed tiles"
    assert sum(decoded) <= 61, f"decoded {sum(decoded)} frames for a page of 6 tiles up to frame 60"
    state.selected = 5
    image, title, *_ = review_panel.show(state, 0.0, True, True, True)
    assert image is not None and image.shape[:2] == (video.height, video.width) and "frame 60" in title


def test_a_workspace_videos_file_comes_whole_and_an_unknown_one_is_a_404(ctx, ws_server, tmp_path):
    from sightline.errors import NotFoundError
    from sightline.paths import SAMPLES_DIR

    video = workspace_video(ctx, ws_server[1])
    got = ctx.own.workspace.download_video(video.id, tmp_path / "copy.mp4")
    assert got.read_bytes() == (SAMPLES_DIR / "moving_shapes.mp4").read_bytes()
    with pytest.raises(NotFoundError, match="no video 999"):
        ctx.own.workspace.download_video(999, tmp_path / "none.mp4")


# --- fixing objects: class, box, delete, draw -------------------------------------------------------------
@pytest.fixture(scope="module")
def reviewed(ctx, sample_dir):  # type: ignore[no-untyped-def]
    files = [str(sample_dir / f"img_{i:02d}.png") for i in range(4)]
    return run_to_end(ctx, sources(files=files), conf=0.25)


def editor_boxes(state, editor) -> list[dict]:  # type: ignore[no-untyped-def]
    """The boxes the editor was given, as the browser sends them back (colours as [r, g, b]), in the order of
    the objects they were sent for (the editor gets them smallest first; the colour says which is which)."""
    colors = state.run.extras["editing"].colors
    boxes = [{**b, "color": list(b["color"])} for b in editor.value["boxes"]]
    return sorted(boxes, key=lambda b: colors[tuple(b["color"])])


def test_fixing_a_result_changes_what_is_uploaded(reviewed):
    state = reviewed
    run = state.run
    k = next(i for i, p in enumerate(run.predictions) if len(p) >= 3)
    state.selected = k
    before = run.predictions[k]
    classes = list(run.model.info.classes)
    editor, message = review_panel.editor_for(state, 0.0)
    boxes = editor_boxes(state, editor)
    assert len(boxes) == len(before) and f"{len(before)} objects" in message
    assert review_panel.save_fixes(state, {"boxes": boxes}).startswith("Nothing changed")
    other = next(c for c in classes if c != boxes[0]["label"])
    boxes[0]["label"] = other  # a new class
    x0, y0, x1, y1 = (before.boxes[1] * 1.0).tolist()
    boxes[1].update(xmin=10, ymin=12, xmax=60, ymax=70)  # a box moved and resized (the picture is shown at full size)
    deleted = boxes.pop(2)  # a deleted object
    boxes.append({"xmin": 5, "ymin": 5, "xmax": 25, "ymax": 30, "label": classes[0], "color": [1, 2, 3]})  # drawn by hand
    said = review_panel.save_fixes(state, {"boxes": boxes})
    assert said.startswith("Saved: 2 changed, 1 deleted, 1 drawn by hand"), said
    after = run.predictions[k]
    assert len(after) == len(before) and run.originals[k] is before
    assert after.classes[0] == other and after.class_ids[0] == classes.index(other) and after.scores[0] == before.scores[0]
    assert after.boxes[1].tolist() == [10, 12, 60, 70] and after.scores[1] == before.scores[1]
    assert deleted["label"] == before.classes[2] and not any(np.allclose(b, before.boxes[2]) for b in after.boxes)
    assert after.classes[-1] == classes[0] and after.scores[-1] == 1.0 and after.boxes[-1].tolist() == [5, 5, 25, 30]
    if after.masks is not None:  # a moved box's mask is cut to it; a drawn box is filled as its mask
        assert not after.masks[1][:, 61:].any() and after.masks[-1][5:30, 5:25].all()
    uploaded = run.reviewed(0.0)[k]
    assert uploaded.classes == after.classes and np.allclose(uploaded.boxes, after.boxes)
    # the object list and the gallery say what was fixed
    _, _, keep, rows, counts = review_panel.show(state, 0.0, True, True, True)
    assert keep["choices"][0][0].endswith("· fixed") and rows[1][-1] == "yes (fixed)" and "1 result fixed by hand" in counts
    # a rejection sticks to its object across a later fix
    review_panel.set_kept(state, 0.0, [i for i in range(len(after)) if i != 1])
    editor, _ = review_panel.editor_for(state, 0.0)
    boxes = editor_boxes(state, editor)
    assert len(boxes) == len(after) - 1  # a rejected object is not offered for fixing
    boxes[0]["label"] = classes[0]
    review_panel.save_fixes(state, {"boxes": boxes})
    assert run.rejected[k] == {1} and run.predictions[k].classes[0] == classes[0]
    # undo brings the model's objects back
    assert review_panel.undo(state).startswith("The model's own objects")
    assert run.predictions[k] is before and k not in run.originals and k not in run.rejected


def test_fixes_refuse_unknown_classes_and_a_stale_editor(reviewed):
    state = reviewed
    state.selected = 0
    editor, _ = review_panel.editor_for(state, 0.0)
    boxes = editor_boxes(state, editor)
    boxes[0]["label"] = "dragon"
    said = review_panel.save_fixes(state, {"boxes": boxes})
    assert said.startswith("**Not saved:** object 0 is labelled 'dragon': pick one of the model's classes")
    state.selected = 1  # the selection moved, the editor did not
    assert review_panel.save_fixes(state, {"boxes": editor_boxes(state, editor)}).startswith("The editor shows another result")
    assert not state.run.originals


# --- filters ----------------------------------------------------------------------------------------------
def test_filters_pick_items_by_class_score_emptiness_and_failure(ctx, sample_dir, upload_folder):
    broken = upload_folder / "broken.png"
    broken.write_bytes(b"not an image")
    files = [str(sample_dir / f"img_{i:02d}.png") for i in range(4)] + [str(broken)]
    state = run_to_end(ctx, sources(files=files), conf=0.25)
    run = state.run
    assert run.predictions[4].error is not None
    target = run.predictions[0].classes[0]
    with_class = [k for k, p in enumerate(run.predictions) if target in p.classes]
    state = review_panel.set_filter(state, [target], 0, 1, "all")
    gallery, label, _ = review_panel.refresh(state, 0.0, 60)
    assert len(gallery) == len(with_class) and state.shown == with_class
    assert label.startswith(f"Page 1 of 1 · {len(with_class)} of 5 results match (items with an object of class {target})")
    state = review_panel.select(state, 60, __import__("gradio").SelectData(None, {"index": len(with_class) - 1, "value": None}))
    assert state.selected == with_class[-1]  # a click picks the item on the filtered page
    scores = sorted(float(s) for p in run.predictions[:4] for s in p.scores)
    low = round(scores[len(scores) // 2], 2)  # the upper half of the scores
    expected = [k for k, p in enumerate(run.predictions[:4]) if any(s >= low for s in p.scores)]
    review_panel.set_filter(state, None, low, 1.0, "all")
    assert state.selected is None and len(review_panel.refresh(state, 0.0, 60)[0]) == len(expected) and state.shown == expected
    review_panel.set_filter(state, [target], 0.0, max(0.0, scores[0] - 0.01), "all")
    assert review_panel.refresh(state, 0.0, 60)[0] == [] and "score 0.00–" in run.filter.describe()
    review_panel.set_filter(state, None, 0, 1, "failed")
    gallery, label, _ = review_panel.refresh(state, 0.0, 60)
    assert state.shown == [4] and gallery[0][1].endswith(": failed") and "(only failed items)" in label
    review_panel.set_filter(state, None, 0, 1, "empty")
    assert review_panel.refresh(state, 0.0, 60)[0] == []
    run.rejected[0] = set(range(len(run.predictions[0])))  # every object of the first result rejected: it has none left
    review_panel.refresh(state, 0.0, 60)
    assert state.shown == [0]
    review_panel.set_filter(state, None, 0.9, 0.1, "all")  # upside down: read as 0.1–0.9
    assert run.filter.low == 0.1 and run.filter.high == 0.9
    review_panel.set_filter(state, [], None, "x", "all")
    assert not run.filter.active and review_panel.refresh(state, 0.0, 60)[1] == "Page 1 of 1 · results 1–5 of 5"
    assert len(run.reviewed(0.0)) == 4  # filters never change what is uploaded


# --- existing labels of a workspace image, and what the mode does to each object ----------------------------
def test_existing_labels_show_what_each_mode_does_per_object(tmp_path):
    from sightline.ui import existing_panel, upload_panel
    from tests.ui.conftest import make_ctx, start_ws_server

    live, project_id = start_ws_server(tmp_path / "ws")
    ctx = make_ctx(live.url)
    try:
        state = run_to_end(ctx, sources(kind="workspace", project=project_id), conf=0.3)
        run = state.run
        state.selected = k = next(i for i, p in enumerate(run.predictions) if len(p) >= 2)
        pred = run.predictions[k]
        note, rows = existing_panel.compare(state, "iou_merge", 0.5, 0.3)
        assert note.startswith(f"Image {pred.image_id}: **0** existing objects, **{len(pred)}** predicted kept. **iou_merge** would add "
                               f"**{len(pred)}**")
        assert [r[-1] for r in rows] == ["added"] * len(pred)
        assert "would add" in upload_panel.send(state, "append", 0.5, "", 0.3, False).replace("did add", "would add")  # labels now exist
        note, rows = existing_panel.compare(state, "iou_merge", 0.5, 0.3)
        existing = [r for r in rows if r[0] == "existing"]
        predicted = [r for r in rows if r[0] == "predicted"]
        assert len(existing) == len(pred) == len(predicted) and f"skip **{len(pred)}** duplicates" in note
        assert all(r[-1].startswith("skipped: duplicate of #") and r[-1].endswith("(IoU 1.00 ≥ 0.50)") for r in predicted)
        assert all(r[-1].startswith("kept; predicted object ") for r in existing)
        note, rows = existing_panel.compare(state, "replace", 0.5, 0.3)
        assert {r[-1] for r in rows if r[0] == "existing"} == {"replaced (deleted)"} and f"replace **{len(pred)}**" in note
        assert "labels stay as they are" in existing_panel.compare(state, "create", 0.5, 0.3)[0]
        # a fixed box moved off its old place is no duplicate any more
        editor, _ = review_panel.editor_for(state, 0.3)
        boxes = editor_boxes(state, editor)
        h, w = pred.image_size
        boxes[0].update(xmin=0, ymin=0, xmax=6, ymax=6)
        assert review_panel.save_fixes(state, {"boxes": boxes}).startswith("Saved: 1 changed")
        _, rows = existing_panel.compare(state, "iou_merge", 0.5, 0.3)
        fates = [r[-1] for r in rows if r[0] == "predicted"]
        assert fates[0] in ("added",) or fates[0].startswith("added (IoU 0.") and all(f.startswith("skipped") for f in fates[1:])
        state.selected = None
        assert existing_panel.compare(state, "iou_merge", 0.5, 0.3) == (existing_panel.NOTHING, [])
    finally:
        ctx.own.close()
        live.stop()
