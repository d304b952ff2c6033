"""Upload panel (preview equals the real upload, each mode, where an upload goes) and the webcam's live panel."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from sightline.client.remote import RemoteModel
from sightline.ui import live_panel, model_panel, run_panel, upload_panel
from sightline.ui.context import OWN_LABEL
from tests.ui.conftest import make_ctx, settings, sources, start_ws_server, tick_until_final

NUMBERS = re.compile(r"add \*\*(\d+)\*\* objects, replace \*\*(\d+)\*\*, skip \*\*(\d+)\*\* duplicates, in (\d+) images")


def numbers(text: str) -> tuple[int, ...]:
    """(added, replaced, skipped duplicates, images) of an upload summary."""
    match = NUMBERS.search(text)
    assert match, text
    return tuple(int(v) for v in match.groups())


def labels(workspace, project_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    """How many objects each image of a project has, as the app lists them."""
    return [im.annotations for d in workspace.datasets(project_id) for im in workspace.images(d.id)]


@pytest.fixture()
def fresh(tmp_path):  # type: ignore[no-untyped-def]
    """A server with a workspace of its own: uploads change it."""
    live, project_id = start_ws_server(tmp_path / "ws")
    ctx = make_ctx(live.url)
    yield ctx, project_id
    ctx.own.close()
    live.stop()


def run_to_end(ctx, src, **values):  # type: ignore[no-untyped-def]
    state, _, message, _, _ = run_panel.start(ctx, ctx.new_user(), src, settings(**values))
    assert "Could not start" not in message and state.run is not None, message  # a project run may name the videos it leaves out
    tick_until_final(state)
    assert state.run.predictions and all(p.error is None for p in state.run.predictions)
    return state


def test_append_then_iou_merge_on_a_workspace_run(fresh):
    ctx, project_id = fresh
    state = run_to_end(ctx, sources(kind="workspace", project=project_id), conf=0.3)
    run = state.run
    assert run.kind == "workspace" and len(run.predictions) == 4 and {p.project_id for p in run.predictions} == {project_id}
    assert upload_panel.describe_target(state, "append") == "Into the images these results came from, in **Demo shapes**."
    assert upload_panel.describe_target(state, "create").startswith("A new project in the workspace of this app's server")
    found = sum(len(p) for p in run.predictions)
    workspace = ctx.own.workspace

    preview = upload_panel.send(state, "append", 0.5, "", 0.0, True)
    assert preview.startswith("**Preview** (append): would add") and numbers(preview) == (found, 0, 0, 4)
    assert sum(labels(workspace, project_id)) == 0  # a preview changes nothing
    done = upload_panel.send(state, "append", 0.5, "", 0.0, False)
    assert done.startswith("**Uploaded** (append): did add") and numbers(done) == numbers(preview)
    assert "Project **Demo shapes** now has 4 images and 1 video in 2 datasets" in done
    assert sum(labels(workspace, project_id)) == found

    # merging the same results again right after: every object is a duplicate of the one just appended
    preview = upload_panel.send(state, "iou_merge", 0.5, "", 0.0, True)
    assert numbers(preview) == (0, 0, found, 4)
    done = upload_panel.send(state, "iou_merge", 0.5, "", 0.0, False)
    assert numbers(done) == numbers(preview)
    assert sum(labels(workspace, project_id)) == found

    # what the reviewer rejects is not sent: replace with one object rejected and a high review confidence
    run.rejected[0] = {0}
    conf = 0.9
    expected = sum(len(p) for p in run.reviewed(conf))
    assert expected < found - 1
    preview = upload_panel.send(state, "replace", 0.5, "", conf, True)
    done = upload_panel.send(state, "replace", 0.5, "", conf, False)
    assert numbers(preview) == numbers(done) and numbers(done)[0] == expected and numbers(done)[3] == 4
    assert sum(labels(workspace, project_id)) == expected


def test_create_makes_a_new_project(fresh, sample_dir):
    ctx, _ = fresh
    state = run_to_end(ctx, sources(files=[str(sample_dir / f"img_{i:02d}.png") for i in range(3)]))
    found = sum(len(p) for p in state.run.predictions)
    preview = upload_panel.send(state, "create", 0.5, "  UI test  ", 0.0, True)
    assert numbers(preview) == (found, 0, 0, 3)
    assert [p.name for p in ctx.own.workspace.projects()] == ["Demo shapes"]
    done = upload_panel.send(state, "create", 0.5, "  UI test  ", 0.0, False)
    assert numbers(done) == numbers(preview) and "Project **UI test** now has 3 images" in done
    (project,) = [p for p in ctx.own.workspace.projects() if p.name == "UI test"]
    assert project.images == 3
    assert sorted(labels(ctx.own.workspace, project.id)) == sorted(len(p) for p in state.run.predictions)


def test_modes_that_change_workspace_images_need_a_workspace_run(fresh, sample_dir, file_server):
    ctx, _ = fresh
    state = ctx.new_user()
    assert upload_panel.describe_target(state, "append").startswith("Run the model first")
    assert upload_panel.send(state, "append", 0.5, "", 0.0, True) == "Nothing to upload yet: run the model first."

    state = run_to_end(ctx, sources(files=[str(sample_dir / "img_00.png")]))
    for mode in ("append", "replace", "iou_merge"):
        text = upload_panel.describe_target(state, mode)
        assert text.startswith(f"**{mode}** changes images already in the workspace") and "**create**" in text
    answer = upload_panel.send(state, "append", 0.5, "", 0.0, False)
    assert answer.startswith("**Could not upload:**") and "Traceback" not in answer

    # a run where every item failed has nothing to send
    src = sources(kind="urls", urls=f"{file_server}/nothing.png")
    state, _, message, _, _ = run_panel.start(ctx, ctx.new_user(), src, settings())
    tick_until_final(state)
    assert upload_panel.send(state, "create", 0.5, "x", 0.0, True) == "Every item of this run failed: there is nothing to upload."


def test_live_frames_come_back_drawn_with_their_fps(ctx, state, samples):
    frame = samples[0].image
    assert state.live is None
    assert live_panel.on_frame(state, None, 0.5)[1:] == (None, {"__type__": "update"})
    deadline = time.monotonic() + 30
    while True:
        state, drawn, text = live_panel.on_frame(state, frame, 0.3)
        assert state.live is not None and state.live_key[1] == 0.3
        if "FPS" in text:
            break
        assert drawn is frame and text.startswith("Waiting for the first prediction…")
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    assert drawn.shape == frame.shape and drawn.dtype == np.uint8 and not np.array_equal(drawn, frame)
    assert re.match(r"\*\*\d+\.\d FPS\*\* predicted", text) and re.search(r"· (\d+) objects ·", text)
    assert int(re.search(r"· (\d+) objects ·", text).group(1)) > 0

    stream = state.live
    state, _, _ = live_panel.on_frame(state, frame, 0.6)  # a new confidence opens a new stream
    assert state.live is not stream and state.live_key[1] == 0.6
    live_panel.close(state)
    assert state.live is None and state.live_key is None
    live_panel.close(state)  # twice is harmless


def test_a_run_on_another_server_uploads_there(fresh, sample_dir, tmp_path):
    ctx, _ = fresh
    other, _ = start_ws_server(tmp_path / "other-ws")
    try:
        state, _, message = model_panel.connect_to(ctx, ctx.new_user(), other.url, "")
        assert message.startswith("Connected")
        src = sources(files=[str(sample_dir / "img_00.png")])
        state.tab = "tab-on-other-server"
        state, _, message, _, _ = run_panel.start(ctx, state, src, settings())
        tick_until_final(state)
        # after a refresh the tab is on this app's server again, but the run (and its upload) is on the other one
        state, *_ = run_panel.restore(ctx, None, state.tab, None)
        assert state.connection.label == OWN_LABEL and state.run.model.url.rstrip("/") == other.url
        assert other.url in upload_panel.describe_target(state, "create")
        done = upload_panel.send(state, "create", 0.5, "Elsewhere", 0.0, False)
        assert "Project **Elsewhere** now has 1 images in 1 datasets" in done
        assert [p.name for p in ctx.own.workspace.projects()] == ["Demo shapes"]
        with RemoteModel(other.url) as there:
            assert [p.name for p in there.workspace.projects()] == ["Demo shapes", "Elsewhere"]
    finally:
        other.stop()
