"""Upload panel: send the reviewed results to the workspace as a new project, or into the images they
came from (append, replace, or iou_merge without duplicates), after a preview of what would change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from sightline.client.remote import RemoteModel
from sightline.errors import SightlineError
from sightline.ui.state import UserState, describe
from sightline.upload_result import UploadResult

MODES = {
    "create": "create: a new project with these images and objects",
    "append": "append: add the objects to the images' existing labels",
    "replace": "replace: the objects replace the images' existing labels",
    "iou_merge": "iou_merge: add only objects that do not overlap an existing one of the same class",
}


@dataclass
class UploadPanel:
    mode: gr.Radio
    threshold: gr.Slider
    project: gr.Textbox
    target: gr.Markdown
    preview: gr.Button
    upload: gr.Button
    summary: gr.Markdown


def build() -> UploadPanel:
    mode = gr.Radio([(v, k) for k, v in MODES.items()], value="create", label="How to upload", elem_id="upload-mode")
    threshold = gr.Slider(0.05, 1.0, value=0.5, step=0.05, label="iou_merge: an object is a duplicate at IoU ≥", visible=False,
                          elem_id="merge-threshold")
    project = gr.Textbox(label="New project name", placeholder="empty: the model's name and the time", elem_id="upload-project")
    target = gr.Markdown(elem_id="upload-target")
    with gr.Row():
        preview = gr.Button("Preview", elem_id="upload-preview")
        upload = gr.Button("Upload", variant="primary", elem_id="upload")
    summary = gr.Markdown(elem_id="upload-summary")
    return UploadPanel(mode, threshold, project, target, preview, upload, summary)


def describe_target(state: UserState, mode: str) -> str:
    """Where the upload will go, in words, or why this mode cannot be used for this run."""
    run = state.run
    if run is None:
        return "Run the model first; its reviewed results are what gets uploaded."
    if mode == "create":
        # the run's own server gets the upload: after a refresh or a model change the tab may be on another one
        where = state.connection.label if run.model.url == state.connection.model.url else run.model.url
        return f"A new project in the workspace of {where}, with a copy of each image."
    placed = [p.project_id for p in run.predictions if p.error is None]
    projects = {pid for pid in placed if pid is not None}
    if run.kind != "workspace" or None in placed:
        return f"**{mode}** changes images already in the workspace: run on a workspace project, datasets or images first, or use **create**."
    if not projects:
        return "Into the workspace images the results come from (their project shows once the first results arrive)."
    known: dict[int, str] = run.extras.setdefault("project_names", {})  # asked once: the page refreshes this every second
    for pid in sorted(projects - known.keys()):
        try:
            known[pid] = run.model.workspace.project(int(pid)).name
        except SightlineError:
            known[pid] = f"project {pid}"
    return f"Into the images these results came from, in **{', '.join(known[p] for p in sorted(projects))}**."


def mode_for_run(state: UserState, mode: str) -> Any:
    """After a new run: a workspace run is offered ``iou_merge`` (into the images it came from, without
    duplicates), any other run ``create`` (the only mode that fits it)."""
    run = state.run
    if run is None:
        return gr.skip()
    wanted = "iou_merge" if run.kind == "workspace" else "create"
    if run.kind == "workspace" and mode != "create":
        return gr.skip()  # the reviewer chose a workspace mode already
    return wanted if wanted != mode else gr.skip()


def send(state: UserState, mode: str, threshold: float, project: str, conf: float, dry_run: bool) -> str:
    """Preview (``dry_run``) or perform the upload of what the reviewer keeps; a summary either way."""
    run = state.run
    if run is None:
        return "Nothing to upload yet: run the model first."
    if run.is_going():
        status = run.last_status
        so_far = f" ({status.done} of {status.total or '?'} done)" if status is not None else ""
        verb = "preview" if dry_run else "upload"
        return f"**The run is still going**{so_far}: wait for it to finish, or press **Stop** (finished results stay), then {verb} what it found."
    if not run.predictions:
        return "This run has no results to upload."
    predictions = run.reviewed(conf)
    if not predictions:
        return "Every item of this run failed: there is nothing to upload."
    try:
        # a video run creates a video item with per-frame objects and track ids, as a run with upload= does
        video = run.video_source if run.kind == "video" and mode == "create" else None
        answer = run.model.upload(predictions, mode, project=(project or "").strip() or None, iou_merge_threshold=float(threshold),
                                  dry_run=dry_run, video=video)
    except SightlineError as exc:
        return f"**Could not {'preview' if dry_run else 'upload'}:** {describe(exc)}"
    return summary(run.model, answer, mode, dry_run)


def summary(model: RemoteModel, answer: UploadResult, mode: str, dry_run: bool) -> str:
    """What an upload (or its preview) did, in words, with the project it went to as ``model``'s server has it now."""
    t = answer.totals
    verb = "would" if dry_run else "did"
    head = "Preview" if dry_run else "Uploaded"
    lines = [
        f"**{head}** ({mode}): {verb} add **{t.added}** objects, replace **{t.replaced}**, "
        f"skip **{t.skipped_duplicates}** duplicates, in {t.images} images."
    ]
    if t.failed_objects or t.failed_images:
        lines.append(f"{t.failed_objects} objects and {t.failed_images} images failed: " + "; ".join(t.errors[:5]))
    pid = answer.project_id
    if not dry_run and pid is not None:
        try:
            p = model.workspace.project(int(pid))
            videos = f" and {p.videos} video{'s' if p.videos != 1 else ''}" if p.videos else ""
            lines.append(f"Project **{p.name}** now has {p.images} images{videos} in {p.datasets} datasets (see the Workspace input tab).")
        except SightlineError:
            pass
    return "\n\n".join(lines)


def wire(panel: UploadPanel, state: gr.State, conf: gr.Slider, followups: list | None = None) -> None:
    """``followups``: (fn, inputs, outputs) to run after an upload, e.g. the workspace lists, which gain
    the new project."""
    panel.mode.change(lambda m: (gr.update(visible=m == "iou_merge"), gr.update(visible=m == "create")), [panel.mode],
                      [panel.threshold, panel.project], queue=False)
    panel.mode.change(describe_target, [state, panel.mode], [panel.target])
    inputs = [state, panel.mode, panel.threshold, panel.project, conf]
    panel.preview.click(lambda s, m, t, p, c: send(s, m, t, p, c, True), inputs, [panel.summary])
    uploaded = panel.upload.click(lambda s, m, t, p, c: send(s, m, t, p, c, False), inputs, [panel.summary])
    uploaded.then(describe_target, [state, panel.mode], [panel.target])
    for fn, ins, outs in followups or []:
        uploaded.then(fn, ins, outs)
