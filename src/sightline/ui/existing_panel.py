"""Existing labels: for a result on a workspace image, the image's own objects beside the reviewed
predictions, and per object what the chosen upload mode will do (added, replaces, kept, or skipped as a
duplicate for ``iou_merge``, with the IoU).

The answers come from the server's dry-run upload with ``details`` (one code path with the real upload,
rolled back), so what this table says is what Upload does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from sightline.errors import SightlineError
from sightline.ui.state import UserState, describe

HEADERS = ["whose", "object", "class", "score", "x0", "y0", "x1", "y1", "what the upload does"]
NOTHING = "Click a picture of a workspace run: its image's existing labels show here beside the predictions."


@dataclass
class ExistingPanel:
    note: gr.Markdown
    table: gr.Dataframe


def build() -> ExistingPanel:
    with gr.Accordion("Existing labels of the workspace image, and what the upload mode does to each object", open=True,
                      elem_id="existing"):
        note = gr.Markdown(NOTHING, elem_id="existing-note")
        table = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="existing-objects")
    return ExistingPanel(note, table)


def _box(box: Any) -> list[float]:
    return [round(float(v), 1) for v in box]


def compare(state: UserState, mode: str, threshold: float, conf: float) -> tuple[str, list[list[Any]]]:
    """The note and rows for the selected result: its image's existing objects, then its kept predictions."""
    run, position = state.run, state.selected
    if run is None or position is None or position >= len(run.predictions):
        return NOTHING, []
    pred = run.predictions[position]
    if pred.error is not None:
        return "This item failed: it has nothing to upload.", []
    if pred.image_id is None or pred.image_path or pred.image_url:
        what = "a workspace video's frame" if pred.video_id is not None else "not a workspace image"
        return f"This result is {what}: existing labels are shown for workspace images.", []
    threshold = float(threshold)
    try:
        existing = run.model.workspace.annotations(int(pred.image_id))
        reviewed = run.reviewed_one(position, conf)
        answer = None
        if mode != "create":
            answer = run.model.upload([reviewed], mode, iou_merge_threshold=threshold, dry_run=True, details=True)
    except SightlineError as exc:
        return f"**The existing labels could not be compared:** {describe(exc)}", []
    kept = np.flatnonzero(run.kept(position, conf))
    per_object = ((answer.items if answer is not None else None) or [{}])[0] or {}
    decisions = per_object.get("objects") or [{"action": "added", "iou": None, "existing_id": None}] * len(kept)
    matched: dict[int, tuple[int, float]] = {}  # existing id -> (prediction object, IoU) of a duplicate
    rows: list[list[Any]] = []
    for index, decision in zip(kept, decisions):
        rows.append(["predicted", int(index), pred.classes[index], round(float(pred.scores[index]), 3), *_box(pred.boxes[index]),
                     _prediction_fate(mode, decision, threshold)])
        if decision.get("action") == "duplicate":
            matched[int(decision["existing_id"])] = (int(index), float(decision["iou"]))
    existing_rows = [["existing", f"#{o['id']}", o["class"], "" if o.get("score") is None else round(float(o["score"]), 3),
                      *_box(o["box"]), _existing_fate(mode, matched.get(int(o["id"])))] for o in existing]
    if answer is not None:
        t = answer.totals
        said = (f"**{mode}** would add **{t.added}**, replace **{t.replaced}**, skip **{t.skipped_duplicates}** "
                "duplicates (a dry run on the server: what Upload does)")
    else:
        said = "**create** copies the image into a new project with the kept predictions only; this image's labels stay as they are"
    note = f"Image {pred.image_id}: **{len(existing)}** existing objects, **{len(kept)}** predicted kept. {said}."
    return note, existing_rows + rows


def _prediction_fate(mode: str, decision: dict[str, Any], threshold: float) -> str:
    if mode == "create":
        return "added to the new project's copy"
    iou, other = decision.get("iou"), decision.get("existing_id")
    if decision.get("action") == "duplicate":
        return f"skipped: duplicate of #{other} (IoU {iou:.2f} ≥ {threshold:.2f})"
    if mode == "iou_merge" and iou is not None:
        return f"added (IoU {iou:.2f} with #{other}, under {threshold:.2f})"
    return "added"


def _existing_fate(mode: str, duplicate_of: tuple[int, float] | None) -> str:
    if mode == "replace":
        return "replaced (deleted)"
    if duplicate_of is not None:
        return f"kept; predicted object {duplicate_of[0]} is its duplicate (IoU {duplicate_of[1]:.2f})"
    return "kept"


def wire(panel: ExistingPanel, state: gr.State, conf: gr.Slider, mode: gr.Radio, threshold: gr.Slider, after: list[Any]) -> None:
    """``after``: events after which the selected result, or its objects, may have changed."""
    inputs = [state, mode, threshold, conf]
    outputs = [panel.note, panel.table]
    for event in after:
        event.then(compare, inputs, outputs, show_progress="hidden")
    mode.change(compare, inputs, outputs, show_progress="hidden")
    threshold.release(compare, inputs, outputs, show_progress="hidden")
    conf.release(compare, inputs, outputs, show_progress="hidden")
