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
    assert message == "" and state.run is not None, message
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

    def counting(path, frames):  # type: ignore[no-untyped-def]
        decoded.append(frames[-1] + 1 if len(frames) else 0)
        return real(path, frames)

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
