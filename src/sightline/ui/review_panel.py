"""Review panel: a paged gallery of results, a large view with drawing toggles and a confidence slider
that re-filters without running the model again, the objects of one image with accept/reject, and the
annotated video of a video run."""

from __future__ import annotations

import hashlib
import html
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from sightline.errors import SightlineError
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
    under_view: Any = None  # what ``build``'s ``under_view`` made (the keyboard's lines)

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
    """The gallery and, beside it, the large view; ``under_view`` adds components under the large view."""
    extra = None
    with gr.Row(equal_height=False, elem_id="review-row"):
        with gr.Column(scale=5, min_width=300):
            gallery = gr.Gallery(label="Results", columns=2, height=430, object_fit="contain", allow_preview=False, elem_id="gallery",
                                 buttons=["download", "fullscreen"])
            with gr.Row():
                prev_page = gr.Button("◀ Previous", size="sm", elem_id="prev-page")
                page_info = gr.Markdown("", elem_id="page-info")
                next_page = gr.Button("Next ▶", size="sm", elem_id="next-page")
            video = gr.Video(label="Annotated video", visible=False, autoplay=False, elem_id="annotated-video")
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
    table = gr.Dataframe(headers=TABLE_HEADERS, label="Objects", interactive=False, elem_id="objects")
    counts = gr.Markdown(elem_id="review-counts")
    return ReviewPanel(gallery, page_info, prev_page, next_page, view, view_name, boxes, masks, labels, conf, keep, table, counts, video,
                       extra)


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
        pixels = source_pixels(run.model, run.predictions[position], run.video_source)
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


def prefetch_frames(run: Run, positions: list[int]) -> None:
    """Decode the video frames a gallery page still needs in one pass over the video, small.

    Reading frames one by one decodes each from the start of the video (a page near the end of a long
    clip then decodes the clip sixty times); one pass decodes it once. Kept per run for one page only.
    """
    if not run.video_source:
        return
    wanted: dict[int, list[int]] = {}
    for k in positions:
        pred = run.predictions[k]
        if pred.error is None and pred.frame_idx is not None and pred._image is None:
            wanted.setdefault(int(pred.frame_idx), []).append(k)
    if len(wanted) < 2:  # one frame is read as it is needed
        return
    from sightline.ui.render import shrink
    from sightline.video.decode import DecodedFrame, decode_frames

    got: dict[int, np.ndarray] = {}
    try:
        for frame in decode_frames(run.video_source, range(min(wanted), max(wanted) + 1)):
            if not isinstance(frame, DecodedFrame):  # a frame that cannot be decoded is read alone, and says why
                continue
            for k in wanted.get(frame.index, ()):
                got[k] = shrink(frame.image, THUMB_SIDE)[0]
    except (ValueError, RuntimeError):
        pass  # frames not reached are read one by one, and say what is wrong with the video
    run.extras["page_frames"] = got


def _thumbnail_path(run: Run, position: int, conf: float) -> Path:
    keep = run.kept(position, conf)
    key = hashlib.sha1(f"{position}|{keep.tobytes().hex()}".encode()).hexdigest()[:16]
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


def page_count(run: Run | None, page_size: int) -> int:
    return max(1, -(-len(run.predictions) // page_size)) if run else 1


def refresh(state: UserState, conf: float, page_size: int) -> tuple[Any, str, str]:
    """The current gallery page, its label, and the review counts."""
    run = state.run
    if run is None:
        return [], "", ""
    pages = page_count(run, page_size)
    state.page = min(max(0, state.page), pages - 1)
    lo = state.page * page_size
    positions = range(lo, min(lo + page_size, len(run.predictions)))
    prefetch_frames(run, [k for k in positions if not _thumbnail_path(run, k, conf).exists()])
    items = [thumbnail(run, k, conf) for k in positions]
    run.extras.pop("page_frames", None)
    return items, page_label(run, state.page, page_size), counts(run, conf)


def page_label(run: Run, page: int, page_size: int) -> str:
    lo = page * page_size
    shown = max(0, min(page_size, len(run.predictions) - lo))
    return f"Page {page + 1} of {page_count(run, page_size)} · results {lo + 1 if shown else 0}–{lo + shown} of {len(run.predictions)}"


def counts(run: Run, conf: float) -> str:
    ok = [k for k, p in enumerate(run.predictions) if p.error is None]
    failed = [p for p in run.predictions if p.error is not None]
    kept = sum(int(run.kept(k, conf).sum()) for k in ok)
    total = sum(len(run.predictions[k]) for k in ok)
    rejected = sum(len(v) for v in run.rejected.values())
    text = f"**{kept}** of {total} objects in {len(ok)} results will be uploaded (confidence ≥ {conf:.2f}, {rejected} rejected by hand)."
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
    return f"object {i}: {pred.classes[i]} {float(pred.scores[i]):.2f}{track}"


def object_row(pred: Any, i: int, kept: bool) -> list[Any]:
    track = int(pred.track_ids[i]) if pred.track_ids is not None and pred.track_ids[i] >= 0 else ""
    x0, y0, x1, y1 = (round(float(v), 1) for v in pred.boxes[i])
    return [i, pred.classes[i], round(float(pred.scores[i]), 3), track, x0, y0, x1, y1, "yes" if kept else "rejected"]


def select(state: UserState, page_size: int, evt: gr.SelectData) -> UserState:
    state.selected = state.page * page_size + int(evt.index)
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


def turn_page(state: UserState, step: int, page_size: int) -> UserState:
    """Another gallery page. The gallery keeps its highlighted place across pages, so the selection
    follows it: the item at that place on the new page, or none if the page is shorter."""
    on_page = state.selected - state.page * page_size if state.selected is not None else None
    state.page += step
    pages = page_count(state.run, page_size)
    state.page = min(max(0, state.page), pages - 1)
    position = state.page * page_size + on_page if on_page is not None else None
    n = len(state.run.predictions) if state.run is not None else 0
    state.selected = position if position is not None and position < n else None
    return state


def wire(panel: ReviewPanel, state: gr.State, page_size: int) -> None:
    look = panel.look

    def refresh_page(s: UserState, conf: float) -> tuple[Any, str, str]:
        return refresh(s, conf, page_size)

    def on_select(s: UserState, evt: gr.SelectData) -> UserState:
        return select(s, page_size, evt)

    panel.gallery.select(on_select, [state], [state], queue=False).then(
        show, [state, *look], panel.shown
    )
    for toggle in (panel.boxes, panel.masks, panel.labels):
        toggle.change(show, [state, *look], panel.shown, show_progress="hidden", concurrency_limit=None)
    panel.conf.change(show, [state, *look], panel.shown, show_progress="hidden")
    panel.conf.release(refresh_page, [state, panel.conf], panel.refreshed, show_progress="hidden")
    panel.keep.input(set_kept, [state, panel.conf, panel.keep], [state], queue=False).then(
        show, [state, *look], panel.shown, show_progress="hidden"
    ).then(refresh_page, [state, panel.conf], panel.refreshed, show_progress="hidden")
    def new_page(s: UserState, conf: float, *look_values: Any) -> tuple[Any, ...]:
        gallery, label, _ = refresh(s, conf, page_size)
        return (gallery, label, *show(s, conf, *look_values))

    for button, step in ((panel.prev_page, -1), (panel.next_page, 1)):
        button.click(lambda s, k=step: turn_page(s, k, page_size), [state], [state], queue=False).then(
            new_page, [state, *look], [panel.gallery, panel.page_info, *panel.shown]
        )
