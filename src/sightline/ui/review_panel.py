"""Review panel: a paged gallery of results, a large view with drawing toggles and a confidence slider
that re-filters without running the model again, the objects of one image with accept/reject, and the
annotated video of a video run."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from sightline.errors import SightlineError
from sightline.ui.render import THUMB_SIDE, caption, draw, failed_tile, item_name, save_jpeg
from sightline.ui.state import Run, UserState, describe, preview_pixels, source_pixels

TABLE_HEADERS = ["#", "class", "score", "track", "x0", "y0", "x1", "y1", "kept"]


@dataclass
class ReviewPanel:
    gallery: gr.Gallery
    page_info: gr.Markdown
    prev_page: gr.Button
    next_page: gr.Button
    view: gr.Image
    boxes: gr.Checkbox
    masks: gr.Checkbox
    labels: gr.Checkbox
    conf: gr.Slider
    keep: gr.CheckboxGroup
    table: gr.Dataframe
    counts: gr.Markdown
    video: gr.Video

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
        return [self.view, self.keep, self.table, self.counts]


def build() -> ReviewPanel:
    with gr.Row():
        with gr.Column(scale=5):
            gallery = gr.Gallery(label="Results", columns=3, height=430, object_fit="contain", allow_preview=False, elem_id="gallery")
            with gr.Row():
                prev_page = gr.Button("◀ Previous", size="sm", elem_id="prev-page")
                page_info = gr.Markdown("", elem_id="page-info")
                next_page = gr.Button("Next ▶", size="sm", elem_id="next-page")
            video = gr.Video(label="Annotated video", visible=False, autoplay=False, elem_id="annotated-video")
        with gr.Column(scale=6):
            view = gr.Image(label="Selected result (click a picture in the gallery)", type="numpy", interactive=False, height=430, elem_id="large-view")
            with gr.Row():
                boxes = gr.Checkbox(True, label="Boxes", elem_id="show-boxes")
                masks = gr.Checkbox(True, label="Masks", elem_id="show-masks")
                labels = gr.Checkbox(True, label="Labels", elem_id="show-labels")
            conf = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Review confidence: hide (and do not upload) objects below",
                             elem_id="review-conf")
    keep = gr.CheckboxGroup([], label="Objects of this image: untick to reject before upload", elem_id="keep")
    table = gr.Dataframe(headers=TABLE_HEADERS, label="Objects", interactive=False, elem_id="objects")
    counts = gr.Markdown(elem_id="review-counts")
    return ReviewPanel(gallery, page_info, prev_page, next_page, view, boxes, masks, labels, conf, keep, table, counts, video)


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
    return preview_pixels(run.model, run.predictions[position], run.video_source, THUMB_SIDE)


def thumbnail(run: Run, position: int, conf: float) -> tuple[str, str]:
    """The gallery entry of one result: a drawn thumbnail file (made once per look) and its caption."""
    pred = run.predictions[position]
    keep = run.kept(position, conf)
    key = hashlib.sha1(f"{position}|{keep.tobytes().hex()}".encode()).hexdigest()[:16]
    path = run.folder / f"{position:06d}-{key}.jpg"
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
    items = [thumbnail(run, k, conf) for k in range(lo, min(lo + page_size, len(run.predictions)))]
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


def show(state: UserState, conf: float, boxes: bool, masks: bool, labels: bool) -> tuple[Any, Any, Any, str]:
    """The large view of the selected result, its object list and table, and the counts."""
    run, position = state.run, state.selected
    if run is None or position is None or position >= len(run.predictions):
        return None, gr.update(choices=[], value=[]), [], counts(run, conf) if run else ""
    pred = run.predictions[position]
    if pred.error:
        return None, gr.update(choices=[], value=[]), [], f"**{item_name(pred)}** could not be used: {pred.error}"
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
    return image, gr.update(choices=choices, value=value), rows, counts(run, conf)


def object_label(pred: Any, i: int) -> str:
    track = f" track {int(pred.track_ids[i])}" if pred.track_ids is not None and pred.track_ids[i] >= 0 else ""
    return f"#{i} {pred.classes[i]} {float(pred.scores[i]):.2f}{track}"


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


def turn_page(state: UserState, step: int) -> UserState:
    state.page += step
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
    panel.prev_page.click(lambda s: turn_page(s, -1), [state], [state], queue=False).then(refresh_page, [state, panel.conf], panel.refreshed)
    panel.next_page.click(lambda s: turn_page(s, 1), [state], [state], queue=False).then(refresh_page, [state, panel.conf], panel.refreshed)
