"""Input panel: images, a video, image URLs, the webcam, or images of the workspace picked by name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from sightline.errors import InputError, SightlineError
from sightline.ui import live_panel
from sightline.ui.context import AppContext
from sightline.ui.state import UserState, describe
from sightline.ui.uploads import uploaded_file

KINDS = ("images", "video", "urls", "webcam", "workspace")
FILES_HEIGHT = 220  # px: the image list's box (about six files; more scroll inside it)
VIDEO_TYPES = [".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"]


@dataclass
class InputPanel:
    kind: gr.State
    tabs: dict[str, gr.Tab]
    files: gr.File
    video: gr.File
    urls: gr.Textbox
    project: gr.Dropdown
    datasets: gr.Dropdown
    images: gr.Dropdown
    refresh: gr.Button
    live: live_panel.LivePanel
    message: gr.Markdown
    sources: list[Any] = field(default_factory=list)
    group: Any = None  # the gr.Tabs holding the tabs (an example switches it)

    def __post_init__(self) -> None:
        self.sources = [self.kind, self.files, self.video, self.urls, self.project, self.datasets, self.images]


@dataclass
class ChosenInput:
    """What ``predict_detached`` gets from the input panel."""

    kind: str
    input: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)  # workspace IDs
    video_source: str | None = None
    note: str = ""  # what the run leaves out, said where the run's messages go

    @property
    def label(self) -> str:
        """What is run, in a few words (for the list of past runs)."""
        if self.kind == "video":
            return os.path.basename(str(self.input))
        if self.kind in ("images", "urls"):
            items = list(self.input or [])
            return os.path.basename(str(items[0]).rstrip("/")) if len(items) == 1 else f"{len(items)} {'images' if self.kind == 'images' else 'URLs'}"
        for key, word in (("image_ids", "workspace images"), ("dataset_id", "workspace datasets"), ("video_id", "workspace video")):
            if key in self.kwargs:
                value = self.kwargs[key]
                return f"{len(value)} {word}" if isinstance(value, list) else f"{word} {value}"
        return f"workspace project {self.kwargs.get('project_id')}"


def build(ctx: AppContext) -> InputPanel:
    kind = gr.State("images")
    tabs: dict[str, gr.Tab] = {}
    with gr.Tabs(elem_id="input-tabs") as group:
        with gr.Tab("Images", id="images", elem_id="tab-images") as tabs["images"]:
            # a fixed height: a long list scrolls inside the box instead of pushing the page down
            files = gr.File(label="Images (drop many at once)", file_count="multiple", file_types=["image"], height=FILES_HEIGHT,
                            elem_id="input-files")
        with gr.Tab("Video", id="video", elem_id="tab-video") as tabs["video"]:
            video = gr.File(label="A video file", file_types=VIDEO_TYPES, elem_id="input-video")
            gr.Markdown("Sampling, tracking and the annotated video are set under **Settings → Video**.")
        with gr.Tab("URLs", id="urls", elem_id="tab-urls") as tabs["urls"]:
            urls = gr.Textbox(label="Image URLs, one per line", lines=4, placeholder="https://example.com/photo.jpg", elem_id="input-urls")
        with gr.Tab("Webcam", id="webcam", elem_id="tab-webcam") as tabs["webcam"]:
            live = live_panel.build()
        with gr.Tab("Workspace", id="workspace", elem_id="tab-workspace") as tabs["workspace"]:
            project = gr.Dropdown([], label="Project", elem_id="ws-project")
            datasets = gr.Dropdown([], multiselect=True, label="Datasets (empty = the whole project)", elem_id="ws-datasets")
            images = gr.Dropdown([], multiselect=True, label="Images or a video (empty = the images of the chosen datasets)",
                                 elem_id="ws-images")
            refresh = gr.Button("Refresh lists", size="sm", elem_id="ws-refresh")
    message = gr.Markdown(elem_id="input-message")
    return InputPanel(kind, tabs, files, video, urls, project, datasets, images, refresh, live, message, group=group)


# --- handlers -------------------------------------------------------------------------------------
def choose(ctx: AppContext, state: UserState, kind: str, files: list[str] | None, video: str | None, urls: str | None,
           project: int | None, datasets: list[int] | None, images: list[int] | None) -> ChosenInput:
    """Turn the panel's values into a prediction input; ``InputError`` says what is missing or wrong."""
    limit = ctx.config.max_file_mb * 1024 * 1024
    if kind == "images":
        if not files:
            raise InputError("Add one or more images in the Images tab first.")
        for path in files:
            uploaded_file(path, "The image")
            if os.path.getsize(path) > limit:
                raise InputError(f"{os.path.basename(path)} is larger than {ctx.config.max_file_mb:g} MB, the limit of this app.")
        return ChosenInput("images", list(files))
    if kind == "video":
        if not video:
            raise InputError("Add a video file in the Video tab first.")
        uploaded_file(video, "The video")
        return ChosenInput("video", video, video_source=video)
    if kind == "urls":
        lines = [u.strip() for u in (urls or "").splitlines() if u.strip()]
        if not lines:
            raise InputError("Paste one or more image URLs, one per line.")
        bad = [u for u in lines if not u.lower().startswith(("http://", "https://"))]
        if bad:
            raise InputError(f"{bad[0]!r} is not a web address: each line must start with http:// or https://.")
        return ChosenInput("urls", lines)
    if kind == "workspace":
        if images:
            videos = [int(str(i)[len(VIDEO_PREFIX):]) for i in images if str(i).startswith(VIDEO_PREFIX)]
            if videos and len(images) > 1:
                raise InputError("Pick one video, or images only: a video runs on its own (its frames, tracked).")
            if videos:
                return ChosenInput("workspace", kwargs={"video_id": videos[0]})
            return ChosenInput("workspace", kwargs={"image_ids": [int(i) for i in images]})
        if datasets:
            chosen = ChosenInput("workspace", kwargs={"dataset_id": [int(d) for d in datasets]})
        elif project is not None:
            chosen = ChosenInput("workspace", kwargs={"project_id": int(project)})
        else:
            raise InputError("Pick a project (and maybe datasets or images) in the Workspace tab first.")
        chosen.note = _check_videos(state, project, datasets)
        return chosen
    if kind == "webcam":
        raise InputError("The webcam predicts live as it streams: press the record button under the camera.")
    raise InputError(f"unknown input kind {kind!r}")


VIDEO_PREFIX = "video:"  # the images list offers videos too, as "video:<id>"


def _check_videos(state: UserState, project: int | None, datasets: list[int] | None) -> str:
    """A dataset or project run predicts images only: refuse it when that leaves nothing; a note naming the
    videos it leaves out, else "". (A note, not ``gr.Info``: Run is handled unqueued, and Gradio shows an
    unqueued handler's ``gr.Info`` to no one: it prints it on the server's console.)"""
    try:
        chosen = state.connection.model.workspace.datasets(int(project)) if project is not None else []
    except SightlineError:
        return ""  # the run itself says what is wrong with the workspace
    if datasets:
        chosen = [d for d in chosen if d.id in {int(x) for x in datasets}]
    images, videos = sum(d.images for d in chosen), sum(d.videos for d in chosen)
    if chosen and videos and not images:
        raise InputError(f"These datasets hold {videos} video{'s' if videos != 1 else ''} and no images: pick the video in the "
                         "Images or a video list to run it (a dataset run predicts images only).")
    if videos:
        return (f"{videos} video{'s' if videos != 1 else ''} in these datasets {'are' if videos != 1 else 'is'} not part of this run: "
                "a dataset or project run predicts images only; pick a video in the list to run it.")
    return ""


def project_choices(state: UserState) -> Any:
    """Projects with their sizes, as (label, id) pairs; the project picked stays picked."""
    try:
        projects = state.connection.model.workspace.projects()
    except SightlineError as exc:
        return gr.update(choices=[], value=None), f"**The workspace could not be listed:** {describe(exc)}"
    choices = [(f"{p.name} — {p.images} images, {p.datasets} datasets", p.id) for p in projects]
    note = "" if choices else "The workspace has no projects yet: upload a run with mode **create** to make one."
    return gr.update(choices=choices), note


def dataset_choices(state: UserState, project: int | None) -> Any:
    if project is None:
        return gr.update(choices=[], value=[]), gr.update(choices=[], value=[])
    try:
        datasets = state.connection.model.workspace.datasets(int(project))
    except SightlineError as exc:
        gr.Warning(describe(exc))
        return gr.update(choices=[], value=[]), gr.update(choices=[], value=[])
    choices = [(f"{d.path} — {d.images} images" + (f", {d.videos} videos" if d.videos else ""), d.id) for d in datasets]
    return gr.update(choices=choices, value=[]), gr.update(choices=[], value=[])


def image_choices(state: UserState, datasets: list[int] | None) -> Any:
    """The chosen datasets' images, then their videos (as "video:<id>": a video runs on its own)."""
    choices: list[tuple[str, Any]] = []
    try:
        for d in datasets or []:
            for im in state.connection.model.workspace.images(int(d)):
                choices.append((f"{im.name} ({im.width}×{im.height}, {im.annotations} objects)", im.id))
            for v in state.connection.model.workspace.videos(int(d)):
                choices.append((f"video: {v.name} ({v.frame_count} frames, {v.width}×{v.height})", f"{VIDEO_PREFIX}{v.id}"))
    except SightlineError as exc:
        gr.Warning(describe(exc))
    return gr.update(choices=choices, value=[])


def files_note(files: list[str] | None, before: list[str] | None) -> tuple[str, list[str]]:
    """Say what the image list holds now, and how many files were just added to those already there
    (Gradio adds dropped files to the list; a reviewer should not run old files without knowing)."""
    now = list(files or [])
    if not now:
        return "", []
    old = set(before or [])
    added = [f for f in now if f not in old]
    kept = len(now) - len(added)
    s = "s" if len(now) != 1 else ""
    if added and kept:
        return (f"**{len(now)} image{s}** will run: {len(added)} just added to the {kept} already in the list "
                "(the list's ✕ clears it)."), now
    return f"**{len(now)} image{s}** will run.", now


def wire(panel: InputPanel, ctx: AppContext, state: gr.State) -> list:
    listed = gr.State([])  # the image list as last seen, to tell what a drop added
    panel.files.change(files_note, [panel.files, listed], [panel.message, listed], queue=False, show_progress="hidden")
    for kind, tab in panel.tabs.items():
        tab.select(lambda k=kind: k, None, panel.kind, queue=False)
    panel.project.change(dataset_choices, [state, panel.project], [panel.datasets, panel.images])
    panel.datasets.change(image_choices, [state, panel.datasets], [panel.images])
    panel.refresh.click(project_choices, [state], [panel.project, panel.message])
    panel.tabs["workspace"].select(project_choices, [state], [panel.project, panel.message])
    return [(project_choices, [state], [panel.project, panel.message])]
