"""Review panel: a paged gallery of results, a large view with drawing toggles and a confidence slider
that re-filters without running the model again, the objects of one image with accept/reject, and the
annotated video of a video run."""

from __future__ import annotations

import hashlib
import html
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from sightline.errors import SightlineError
from sightline.ui import edits, filters, video_player
from sightline.ui.render import THUMB_SIDE, caption, draw, failed_tile, item_name, save_jpeg
from sightline.ui.state import Run, UserState, describe, preview_pixels, source_pixels

NO_SELECTION = "Click a picture in the gallery to see it large."
TABLE_HEADERS = ["object", "class", "score", "track", "x0", "y0", "x1", "y1", "kept"]


@dataclass
class ReviewPanel:
    gallery: gr.Gallery
    page_info: gr.Markdown
    prev_page: gr.Button
    next_page: gr.Button
    view: gr.Image
    view_name: gr.Markdown
    boxes: gr.Checkbox
    masks: gr.Checkbox
    labels: gr.Checkbox
    conf: gr.Slider
    keep: gr.CheckboxGroup
    table: gr.Dataframe
    counts: gr.Markdown
    video: gr.Video
    filter_classes: gr.Dropdown
    filter_low: gr.Number
    filter_high: gr.Number
    filter_show: gr.Radio
    editor: Any  # gradio_image_annotation.image_annotator
    save_fixes: gr.Button
    undo_fixes: gr.Button
    fix_message: gr.Markdown

    under_view: Any = None  # what ``build``'s ``under_view`` made (the keyboard's lines)
    video_note: Any = None  # gr.Markdown under the annotated video: which video it is (video_player)
    redraw_video: Any = None  # gr.Button: draw it again with the review

    @property
    def filter_inputs(self) -> list[Any]:
        return [self.filter_classes, self.filter_low, self.filter_high, self.filter_show]

    @property
    def look(self) -> list[Any]:
        """The inputs every redraw reads: confidence and the three toggles."""
        return [self.conf, self.boxes, self.masks, self.labels]

    @property
    def refreshed(self) -> list[Any]:
        """What ``refresh`` returns, in order."""
        return [self.gallery, self.page_info, self.counts]

    @property
    def shown(self) -> list[Any]:
        """What ``show`` returns, in order."""
        return [self.view, self.view_name, self.keep, self.table, self.counts]


def build(under_view: Callable[[], Any] | None = None) -> ReviewPanel:
    """Filters, the gallery and, beside it, the large view; ``under_view`` adds components under the large view."""
    extra = None
    with gr.Row(elem_id="filters"):
        filter_classes = gr.Dropdown([], value=[], multiselect=True, label="Show items with an object of class (empty: any)",
                                     elem_id="filter-classes", scale=3)
        filter_low = gr.Number(0.0, minimum=0.0, maximum=1.0, step=0.05, label="score from", elem_id="filter-low", scale=1)
        filter_high = gr.Number(1.0, minimum=0.0, maximum=1.0, step=0.05, label="to", elem_id="filter-high", scale=1)
        filter_show = gr.Radio([(v, k) for k, v in filters.SHOW.items()], value="all", label="Show", elem_id="filter-show", scale=3)
    with gr.Row(equal_height=False, elem_id="review-row"):
        with gr.Column(scale=5, min_width=300):
            gallery = gr.Gallery(label="Results", columns=2, height=430, object_fit="contain", allow_preview=False, elem_id="gallery",
                                 buttons=["download", "fullscreen"])
            with gr.Row():
                prev_page = gr.Button("◀ Previous", size="sm", elem_id="prev-page")
                page_info = gr.Markdown("", elem_id="page-info")
                next_page = gr.Button("Next ▶", size="sm", elem_id="next-page")
            video = gr.Video(label="Annotated video", visible=False, autoplay=False, elem_id="annotated-video")
            video_note = gr.Markdown(visible=False, elem_id="video-note")
            redraw_video = gr.Button("Redraw with my review", size="sm", visible=False, elem_id="redraw-video")
        with gr.Column(scale=6, min_width=340):
            view_name = gr.Markdown(NO_SELECTION, elem_id="view-name")
            # PNG: "Download" saves a lossless picture (the default WebP is lossy and surprises people)
            # no "share": it posts to Hugging Face Spaces discussions and fails anywhere else
            view = gr.Image(label="Selected result", type="numpy", format="png", interactive=False, height=430, elem_id="large-view",
                            buttons=["download", "fullscreen"])
            with gr.Row():
                boxes = gr.Checkbox(True, label="Boxes", elem_id="show-boxes")
                masks = gr.Checkbox(True, label="Masks", elem_id="show-masks")
                labels = gr.Checkbox(True, label="Labels", elem_id="show-labels")
            conf = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Review confidence: hide (and do not upload) objects below",
                             elem_id="review-conf")
            if under_view is not None:
                extra = under_view()
    keep = gr.CheckboxGroup([], label="Objects of this image: untick to reject before upload", elem_id="keep")
    with gr.Accordion("Fix objects: change a class, move or resize a box, delete or draw one", open=False, elem_id="fix"):
        from gradio_image_annotation import image_annotator

        gr.Markdown("Drag a box or its corners; double-click a box to change its class or remove it; **Create box** (C) draws "
                    "a missing one. Then **Save fixes**: the fixed objects are what Upload sends.")
        editor = image_annotator(None, label_list=[], image_type="numpy", sources=None, show_clear_button=False,
                                 show_remove_button=True, show_download_button=False, label="Objects of the selected result",
                                 height=480, elem_id="box-editor", enable_keyboard_shortcuts=False)
        with gr.Row():
            save_fixes = gr.Button("Save fixes", variant="primary", size="sm", elem_id="save-fixes")
            undo_fixes = gr.Button("Undo fixes of this result", size="sm", elem_id="undo-fixes")
        fix_message = gr.Markdown(elem_id="fix-message")
    table = gr.Dataframe(headers=TABLE_HEADERS, label="Objects", interactive=False, elem_id="objects")
    counts = gr.Markdown(elem_id="review-counts")
    return ReviewPanel(gallery, page_info, prev_page, next_page, view, view_name, boxes, masks, labels, conf, keep, table, counts, video,
                       filter_classes, filter_low, filter_high, filter_show, editor, save_fixes, undo_fixes, fix_message, extra,
                       video_note, redraw_video)


# --- pictures -------------------------------------------------------------------------------------
class PixelCache:
    """The last few source images of a run, so redraws do not read files or URLs again."""

    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self.size = size

    def __contains__(self, position: int) -> bool:
        return position in self._items

    def get(self, run: Run, position: int) -> np.ndarray:
        if position in self._items:
            self._items.move_to_end(position)
            return self._items[position]
        pixels = source_pixels(run.model, run.predictions[position], local_video(run))
        self._items[position] = pixels
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return pixels


def _cache(run: Run) -> PixelCache:
    return run.extras.setdefault("pixels", PixelCache())


def _pixels(run: Run, position: int) -> np.ndarray:
    return _cache(run).get(run, position)


def _preview(run: Run, position: int) -> np.ndarray:
    cache = _cache(run)
    if position in cache:  # the large view has it whole already
        return cache.get(run, position)
    frames = run.extras.get("page_frames", {})
    if position in frames:
        return frames[position]
    return preview_pixels(run.model, run.predictions[position], run.video_source, THUMB_SIDE)


def local_video(run: Run) -> str | None:
    """The file the run's video frames are read from on the page's machine: the video the page sent, or,
    for a workspace video, a copy fetched once from the run's server into the run's folder (the server's
    own path for it means nothing on another machine). ``None`` when the run is not on one video or the copy failed."""
    if run.video_source:
        return run.video_source
    videos = {p.video_id for p in run.predictions if p.video_id is not None and p.frame_idx is not None}
    if len(videos) != 1 or "video_copy_failed" in run.extras:
        return None
    (video_id,) = videos
    with run.extras.setdefault("video_copy_lock", threading.Lock()):  # the timer and a click may both want it
        if run.video_source:
            return run.video_source
        target = run.folder / f"workspace-video-{int(video_id)}"
        partial = target.with_suffix(".part")
        try:
            run.model.workspace.download_video(int(video_id), partial)
            os.replace(partial, target)
        except (SightlineError, OSError) as exc:  # frames are then read as the prediction says, and say why
            run.extras["video_copy_failed"] = describe(exc)
            return None
        run.video_source = str(target)
    return run.video_source


def prefetch_frames(run: Run, positions: list[int]) -> None:
    """Decode the video frames a gallery page still needs in one pass, small.

    The pass starts at the keyframe before the page's first frame (``decode_frames`` seeks), so a page
    near the end of a long clip costs its own frames and at most one keyframe interval before them, not
    the clip; reading its frames one by one would decode up to an interval for each. Kept per run for one
    page only.
    """
    if not positions or local_video(run) is None:
        return
    wanted: dict[int, list[int]] = {}
    for k in positions:
        pred = run.predictions[k]
        if pred.error is None and pred.frame_idx is not None and pred._image is None:
            wanted.setdefault(int(pred.frame_idx), []).append(k)
    if len(wanted) < 2 or run.video_source is None:  # one frame is read as it is needed
        return
    from sightline.video.decode import DecodedFrame, decode_frames

    got: dict[int, np.ndarray] = {}
    try:
        # thumbnail-sized by FFmpeg as they are converted: shrinking 60 whole 720p frames took longer than decoding them
        for frame in decode_frames(run.video_source, range(min(wanted), max(wanted) + 1), max_side=THUMB_SIDE):
            if not isinstance(frame, DecodedFrame):  # a frame that cannot be decoded is read alone, and says why
                continue
            for k in wanted.get(frame.index, ()):
                got[k] = frame.image
    except (ValueError, RuntimeError):
        pass  # frames not reached are read one by one, and say what is wrong with the video
    run.extras["page_frames"] = got


def _thumbnail_path(run: Run, position: int, conf: float) -> Path:
    keep = run.kept(position, conf)
    key = hashlib.sha1(f"{position}|{run.versions.get(position, 0)}|{keep.tobytes().hex()}".encode()).hexdigest()[:16]
    return run.folder / f"{position:06d}-{key}.jpg"


def thumbnail(run: Run, position: int, conf: float) -> tuple[str, str]:
    """The gallery entry of one result: a drawn thumbnail file (made once per look) and its caption."""
    pred = run.predictions[position]
    keep = run.kept(position, conf)
    path = _thumbnail_path(run, position, conf)
    if not path.exists():
        try:
            image = failed_tile() if pred.error else draw(pred, _preview(run, position), keep, side=THUMB_SIDE, labels=False)
        except SightlineError:
            image = failed_tile()
        save_jpeg(image, path)
    return str(path), caption(pred, int(keep.sum()))


def gallery_positions(run: Run | None, conf: float | None = None) -> list[int]:
    """The positions the gallery pages over: every result, or those the run's filter shows."""
    if run is None:
        return []
    return filters.positions(run, run.extras.get("review_conf", run.conf) if conf is None else conf)


def page_count(run: Run | None, page_size: int, conf: float | None = None) -> int:
    return max(1, -(-len(gallery_positions(run, conf)) // page_size)) if run else 1


def refresh(state: UserState, conf: float, page_size: int) -> tuple[Any, str, str]:
    """The current gallery page, its label, and the review counts."""
    run = state.run
    if run is None:
        state.shown = []
        return [], "", ""
    run.extras["review_conf"] = conf  # the filter reads kept objects at the confidence on screen
    matching = gallery_positions(run, conf)
    pages = max(1, -(-len(matching) // page_size))
    state.page = min(max(0, state.page), pages - 1)
    lo = state.page * page_size
    positions = matching[lo:lo + page_size]
    state.shown = list(positions)
    prefetch_frames(run, [k for k in positions if not _thumbnail_path(run, k, conf).exists()])
    items = [thumbnail(run, k, conf) for k in positions]
    run.extras.pop("page_frames", None)
    return items, page_label(run, state.page, page_size, matching), counts(run, conf)


def page_label(run: Run, page: int, page_size: int, matching: list[int] | None = None) -> str:
    matching = gallery_positions(run) if matching is None else matching
    pages = max(1, -(-len(matching) // page_size))
    lo = page * page_size
    shown = max(0, min(page_size, len(matching) - lo))
    total = len(run.predictions)
    if run.filter is not None and run.filter.active:
        return (f"Page {page + 1} of {pages} · {len(matching)} of {total} results match ({run.filter.describe()})"
                + (f" · {lo + 1}–{lo + shown} shown" if shown else ""))
    return f"Page {page + 1} of {pages} · results {lo + 1 if shown else 0}–{lo + shown} of {total}"


def counts(run: Run, conf: float) -> str:
    ok = [k for k, p in enumerate(run.predictions) if p.error is None]
    failed = [p for p in run.predictions if p.error is not None]
    kept = sum(int(run.kept(k, conf).sum()) for k in ok)
    total = sum(len(run.predictions[k]) for k in ok)
    rejected = sum(len(v) for v in run.rejected.values())
    text = f"**{kept}** of {total} objects in {len(ok)} results will be uploaded (confidence ≥ {conf:.2f}, {rejected} rejected by hand)."
    if run.originals:
        text += f" {len(run.originals)} result{'s' if len(run.originals) != 1 else ''} fixed by hand."
    if failed:
        lines = "\n".join(f"- **{item_name(p)}**: {p.error}" for p in failed[:20])
        more = f"\n- …and {len(failed) - 20} more" if len(failed) > 20 else ""
        text += f"\n\n{len(failed)} item(s) could not be used:\n{lines}{more}"
    return text


def view_title(pred: Any) -> str:
    """What the large view shows, named so a reviewer knows which item the checkboxes act on."""
    if pred.image_url:
        name = pred.image_url
    elif pred.image_id is not None and not pred.image_path:
        name = f"{item_name(pred)} (workspace image {pred.image_id})"
    elif pred.video_id is not None and not pred.video_path:
        name = f"{item_name(pred)} (workspace video {pred.video_id})"
    else:
        name = item_name(pred)
    if pred.frame_idx is not None and "frame" not in name:
        name += f" frame {pred.frame_idx}"
    return f"**{html.escape(name)}**" + (f" · result {pred.index + 1}" if pred.index is not None else "")


def show(state: UserState, conf: float, boxes: bool, masks: bool, labels: bool) -> tuple[Any, str, Any, Any, str]:
    """The large view of the selected result, its name, its object list and table, and the counts."""
    run, position = state.run, state.selected
    if run is None or position is None or position >= len(run.predictions):
        return None, NO_SELECTION, gr.update(choices=[], value=[]), [], counts(run, conf) if run else ""
    pred = run.predictions[position]
    if pred.error:
        return None, view_title(pred), gr.update(choices=[], value=[]), [], f"**{item_name(pred)}** could not be used: {pred.error}"
    keep = run.kept(position, conf)
    try:
        image = draw(pred, _pixels(run, position), keep, boxes=boxes, masks=masks, labels=labels)
    except SightlineError as exc:
        image = None
        gr.Warning(describe(exc))
    visible = [i for i in range(len(pred)) if pred.scores[i] >= conf]
    rejected = run.rejected.get(position, set())
    choices = [(object_label(pred, i), i) for i in visible]
    value = [i for i in visible if i not in rejected]
    rows = [object_row(pred, i, bool(keep[i])) for i in visible]
    return image, view_title(pred), gr.update(choices=choices, value=value), rows, counts(run, conf)


def object_label(pred: Any, i: int) -> str:
    # "#N" is a track id everywhere, as drawn in the picture; an object's place in the list is "object N"
    track = f" · track #{int(pred.track_ids[i])}" if pred.track_ids is not None and pred.track_ids[i] >= 0 else ""
    fixed = " · fixed" if edits.is_edited(pred, i) else ""
    return f"object {i}: {pred.classes[i]} {float(pred.scores[i]):.2f}{track}{fixed}"


def object_row(pred: Any, i: int, kept: bool) -> list[Any]:
    track = int(pred.track_ids[i]) if pred.track_ids is not None and pred.track_ids[i] >= 0 else ""
    x0, y0, x1, y1 = (round(float(v), 1) for v in pred.boxes[i])
    kept_word = "yes" if kept else "rejected"
    return [i, pred.classes[i], round(float(pred.scores[i]), 3), track, x0, y0, x1, y1,
            f"{kept_word} (fixed)" if edits.is_edited(pred, i) else kept_word]


def select(state: UserState, page_size: int, evt: gr.SelectData) -> UserState:
    slot = state.page * page_size + int(evt.index)
    matching = gallery_positions(state.run)  # the pages on screen, filtered or not
    state.selected = matching[slot] if slot < len(matching) else slot
    return state


def set_kept(state: UserState, conf: float, kept: list[int] | None) -> UserState:
    """Reject the visible objects the reviewer unticked (objects hidden by confidence keep their choice)."""
    run, position = state.run, state.selected
    if run is None or position is None:
        return state
    pred = run.predictions[position]
    visible = {i for i in range(len(pred)) if pred.scores[i] >= conf}
    rejected = (run.rejected.get(position, set()) - visible) | (visible - set(kept or []))
    if rejected:
        run.rejected[position] = rejected
    else:
        run.rejected.pop(position, None)
    return state


def turn_page(state: UserState, step: int, page_size: int, conf: float | None = None) -> UserState:
    """Another gallery page. The gallery keeps its highlighted place across pages, so the selection
    follows it: the item at that place on the new page, or none if the page is shorter."""
    matching = gallery_positions(state.run, conf)
    where = {p: k for k, p in enumerate(matching)}
    on_page = where[state.selected] - state.page * page_size if state.selected in where else None
    state.page += step
    pages = max(1, -(-len(matching) // page_size))
    state.page = min(max(0, state.page), pages - 1)
    slot = state.page * page_size + on_page if on_page is not None else None
    state.selected = matching[slot] if slot is not None and slot < len(matching) else None
    return state


# --- filters --------------------------------------------------------------------------------------
def class_choices(state: UserState) -> Any:
    """The filter's classes: those of the run's model (kept as chosen when they still exist)."""
    run = state.run
    try:
        classes = list(run.model.info.classes) if run is not None else list(state.connection.model.info.classes)
    except SightlineError:
        return gr.skip()
    chosen = sorted(run.filter.classes & set(classes)) if run is not None and run.filter is not None else []
    return gr.update(choices=classes, value=chosen)


def set_filter(state: UserState, classes: list[str] | None, low: Any, high: Any, show: str | None) -> UserState:
    """Filter the gallery; the view goes to its first page with nothing selected."""
    if state.run is not None:
        state.run.filter = filters.make_filter(classes, low, high, show)
    state.page, state.selected = 0, None
    return state


# --- fixing objects -------------------------------------------------------------------------------
def editor_for(state: UserState, conf: float) -> tuple[Any, str]:
    """The box editor's value for the selected result (its kept objects), or empty with a reason."""
    from gradio_image_annotation import image_annotator

    run, position = state.run, state.selected
    empty = image_annotator(None, label_list=[])
    if run is None or position is None or position >= len(run.predictions):
        return empty, "Click a picture in the gallery, then fix its objects here."
    pred = run.predictions[position]
    if pred.error:
        return empty, f"**{html.escape(item_name(pred))}** could not be used: there is nothing to fix."
    try:
        image = _pixels(run, position)
        info = run.model.info
    except SightlineError as exc:
        return empty, f"The picture cannot be shown: {describe(exc)}"
    keep = run.kept(position, conf)
    visible = [i for i in range(len(pred)) if keep[i]]
    value, editing = edits.editor_value(run, position, image, visible, dict(zip(info.classes, info.class_colors)))
    run.extras["editing"] = editing
    hidden = len(pred) - len(visible)
    note = f" ({hidden} rejected or under the review confidence are not shown and stay as they are)" if hidden else ""
    return image_annotator(value, label_list=list(info.classes)), f"Fixing {view_title(pred)}: {len(visible)} objects{note}."


def save_fixes(state: UserState, value: dict | None) -> str:
    """Apply the editor's boxes to the result it shows; says what changed, or why nothing did."""
    run, position = state.run, state.selected
    editing = run.extras.get("editing") if run is not None else None
    if run is None or position is None or editing is None or value is None:
        return "Click a picture in the gallery first: its objects open here to be fixed."
    if (editing.run_id, editing.position, editing.version) != (run.id, position, run.versions.get(position, 0)):
        return "The editor shows another result than the one selected: click the picture again, then fix it."
    pred = run.predictions[position]
    classes = list(run.model.info.classes)
    try:
        fixes = edits.read_fixes(pred, editing, value.get("boxes"), classes)
    except SightlineError as exc:
        return f"**Not saved:** {describe(exc)}"
    if not fixes:
        return "Nothing changed: the boxes and classes are as the model found them."
    fixed, kept_from = edits.apply_fixes(pred, fixes, classes)
    run.edit(position, fixed, kept_from)
    return f"Saved: {fixes.describe()}. Upload sends the fixed objects."


def undo(state: UserState) -> str:
    run, position = state.run, state.selected
    if run is None or position is None:
        return "Click a picture in the gallery first."
    if not run.undo_edits(position):
        return "This result has no fixes to undo."
    return "The model's own objects of this result are back (their rejections are cleared)."


def wire(panel: ReviewPanel, state: gr.State, page_size: int) -> list[Any]:
    """Returns the events after which the selected result, or its objects, may have changed (other panels
    that show the selected result follow them with ``.then``)."""
    look = panel.look
    changed: list[Any] = []

    def refresh_page(s: UserState, conf: float) -> tuple[Any, str, str]:
        return refresh(s, conf, page_size)

    def on_select(s: UserState, evt: gr.SelectData) -> UserState:
        return select(s, page_size, evt)

    def load_editor(s: UserState, conf: float) -> tuple[Any, str]:
        return editor_for(s, conf)

    editor_out = [panel.editor, panel.fix_message]
    changed.append(panel.gallery.select(on_select, [state], [state], queue=False).then(
        show, [state, *look], panel.shown
    ).then(load_editor, [state, panel.conf], editor_out))

    def after_fix(s: UserState, conf: float, *look_values: Any) -> tuple[Any, ...]:
        gallery, label, _ = refresh(s, conf, page_size)
        return (gallery, label, *show(s, conf, *look_values), *editor_for(s, conf)[:1])

    fixed_out = [panel.gallery, panel.page_info, *panel.shown, panel.editor]
    changed.append(panel.save_fixes.click(save_fixes, [state, panel.editor], [panel.fix_message]).then(after_fix, [state, *look], fixed_out))
    changed.append(panel.undo_fixes.click(undo, [state], [panel.fix_message]).then(after_fix, [state, *look], fixed_out))

    def filtered(s: UserState, conf: float, *look_values: Any) -> tuple[Any, ...]:
        gallery, label, _ = refresh(s, conf, page_size)
        return (gallery, label, *show(s, conf, *look_values))

    events = [panel.filter_classes.input, panel.filter_show.input, panel.filter_low.submit, panel.filter_low.blur,
              panel.filter_high.submit, panel.filter_high.blur]
    for event in events:
        changed.append(event(set_filter, [state, *panel.filter_inputs], [state], queue=False).then(
            filtered, [state, *look], [panel.gallery, panel.page_info, *panel.shown]
        ))
    video_player.wire(panel.video, panel.video_note, panel.redraw_video, state, panel.conf)
    panel.filter_classes.focus(class_choices, [state], [panel.filter_classes], queue=False)
    for toggle in (panel.boxes, panel.masks, panel.labels):
        toggle.change(show, [state, *look], panel.shown, show_progress="hidden", concurrency_limit=None)
    # input, not change: a run's start and a restored run set the slider and draw the large view
    # themselves; a change event would draw it again, a second round of events and a full-size picture
    panel.conf.input(show, [state, *look], panel.shown, show_progress="hidden")
    panel.conf.release(refresh_page, [state, panel.conf], panel.refreshed, show_progress="hidden")
    changed.append(panel.keep.input(set_kept, [state, panel.conf, panel.keep], [state], queue=False).then(
        show, [state, *look], panel.shown, show_progress="hidden"
    ).then(refresh_page, [state, panel.conf], panel.refreshed, show_progress="hidden"))
    def new_page(s: UserState, conf: float, *look_values: Any) -> tuple[Any, ...]:
        gallery, label, _ = refresh(s, conf, page_size)
        return (gallery, label, *show(s, conf, *look_values))

    for button, step in ((panel.prev_page, -1), (panel.next_page, 1)):
        changed.append(button.click(lambda s, c, k=step: turn_page(s, k, page_size, c), [state, panel.conf], [state], queue=False).then(
            new_page, [state, *look], [panel.gallery, panel.page_info, *panel.shown]
        ).then(load_editor, [state, panel.conf], editor_out))
    return changed
