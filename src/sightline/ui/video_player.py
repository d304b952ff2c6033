"""The annotated video under the gallery: what it shows, and drawing it again with the review.

The run's own annotated video is drawn by the server while the model runs: every object found at the
run's confidence. Rejections and fixes come later, and a reviewer who rejected a false positive would
take the player for their review if it said nothing. So a line under the player says which video it is,
and **Redraw with my review** draws it again with the kept and fixed objects: the export's drawing
(``export_panel.annotated_video``: a decode, a drawing and an H.264 encode of every sampled frame), so a
button, not a redraw on every click.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from sightline.errors import SightlineError
from sightline.ui import export_panel
from sightline.ui.state import UserState, describe

REVIEWED = "reviewed.mp4"  # the redrawn video's file name: the line under the player tells the two videos apart by it
RUNS_OWN = ("Showing **the run's own video**: every object the model found at the run's confidence, before your review. "
            "Rejections and fixes show after **Redraw with my review**.")
REVIEWS = ("Showing **your review**: the kept and fixed objects as they were when you pressed **Redraw with my review** "
           "(press it again after more changes).")


def describe_player(state: UserState, value: str | None) -> tuple[Any, Any]:
    """The line under the player and the redraw button, for the video the player now has (none: both hidden)."""
    if not value:
        return gr.update(value="", visible=False), gr.update(visible=False)
    if Path(value).name != REVIEWED:
        return gr.update(value=RUNS_OWN, visible=True), gr.update(visible=True)
    run = state.run if state is not None else None
    notes = run.extras.get("reviewed_video_notes", []) if run is not None else []
    text = REVIEWS + "".join(f"\n- {describe(n)}" for n in notes[:10])
    return gr.update(value=text, visible=True), gr.update(visible=True)


def redraw(state: UserState, conf: float) -> tuple[Any, Any]:
    """The run's annotated video drawn with what the review keeps at ``conf`` (the player's new value), or why not."""
    run = state.run
    if run is None or not export_panel.is_video(run):
        return gr.skip(), "Run the model on a video first."
    if run.is_going():
        return gr.skip(), "**The run is still going:** wait for it to finish, or press **Stop**, then redraw."
    predictions = run.reviewed(conf)
    if not predictions:
        return gr.skip(), "Every frame of this run failed: there is nothing to draw."
    # a folder of its own, made atomically: a second redraw of this run (a double click, the run opened in
    # another tab) may run at the same time
    run.folder.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="reviewed-video-", dir=run.folder))
    notes: list[str] = []
    try:
        drawn = Path(export_panel.annotated_video(run, predictions, folder, notes))
    except (SightlineError, OSError) as exc:
        return gr.skip(), f"**Could not redraw the video:** {describe(exc)}"
    run.extras["reviewed_video_notes"] = notes
    return gr.update(value=str(drawn.rename(folder / REVIEWED)), visible=True), gr.skip()  # the line follows the player


def wire(video: gr.Video, note: gr.Markdown, button: gr.Button, state: gr.State, conf: gr.Slider) -> None:
    # the player is set by the run panel (a run's end, a reload, a past run, a new run clearing it) and here
    video.change(describe_player, [state, video], [note, button], queue=False, show_progress="hidden")
    button.click(redraw, [state, conf], [video, note])
