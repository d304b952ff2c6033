"""Keyboard review: the next or previous result, the object the keys act on, accept or reject it, and the
drawing toggles, without the mouse.

The page's script (``JS``) turns a key press into a click on a hidden button (results, objects, accept,
reject) or on a drawing toggle; keys typed into a text box, number or slider are left alone (a checkbox
just ticked keeps no keys: the reviewer goes on with them). Accept and
reject go through ``review_panel.set_kept``, the same path as the object checkboxes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from sightline.ui import review_panel
from sightline.ui.state import UserState

KEYS: list[tuple[str, str]] = [
    ("→ / ←", "next / previous result"),
    ("↓ / ↑", "next / previous object of the result"),
    ("A", "keep the object"),
    ("R", "reject it"),
    ("M", "masks on/off"),
    ("B", "boxes"),
    ("L", "labels"),
]
HELP = "Keys: " + " · ".join(f"<kbd>{html.escape(k)}</kbd> {what}" for k, what in KEYS)

# buttons clicked for a key (hidden: visible="hidden" keeps them in the page), and the toggles' checkboxes
JS = """() => {
  if (window.sightlineKeys) return [];
  window.sightlineKeys = true;
  const buttons = {ArrowRight: 'key-next', ArrowLeft: 'key-prev', ArrowDown: 'key-object-next', ArrowUp: 'key-object-prev',
                   a: 'key-accept', r: 'key-reject'};
  const toggles = {m: 'show-masks', b: 'show-boxes', l: 'show-labels'};
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat && !e.key.startsWith('Arrow')) return;
    const t = e.target;
    const typing = t && (t.isContentEditable || ['TEXTAREA', 'SELECT'].includes(t.tagName) ||
                         (t.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(t.type)));
    if (typing) return;  // text, numbers and sliders keep their keys; a ticked checkbox does not
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const viewing = !!document.querySelector('#large-view img');
    if ((key === 'ArrowDown' || key === 'ArrowUp') && !viewing) return;  // nothing open: the page scrolls
    if (buttons[key]) { document.getElementById(buttons[key])?.click(); e.preventDefault(); return; }
    if (toggles[key]) { document.querySelector('#' + toggles[key] + ' input[type=checkbox]')?.click(); e.preventDefault(); }
  });
  return [];
}"""


@dataclass
class KeysPanel:
    next: gr.Button
    prev: gr.Button
    object_next: gr.Button
    object_prev: gr.Button
    accept: gr.Button
    reject: gr.Button
    focus: gr.Markdown
    help: gr.Markdown


def build() -> KeysPanel:
    """The line naming the object the keys act on, the list of keys, and the hidden buttons."""
    focus = gr.Markdown("", elem_id="key-object")
    help_line = gr.Markdown(HELP, elem_id="key-help", elem_classes=["sl-keys"])
    hidden = [gr.Button(label, visible="hidden", elem_id=f"key-{name}") for name, label in (
        ("next", "Next result"), ("prev", "Previous result"), ("object-next", "Next object"), ("object-prev", "Previous object"),
        ("accept", "Keep object"), ("reject", "Reject object"))]
    next_, prev, object_next, object_prev, accept, reject = hidden
    return KeysPanel(next_, prev, object_next, object_prev, accept, reject, focus, help_line)


# --- handlers -------------------------------------------------------------------------------------
def _visible(state: UserState, conf: float) -> list[int]:
    """Indices of the objects of the selected result at or above the review confidence."""
    run, position = state.run, state.selected
    if run is None or position is None or position >= len(run.predictions) or run.predictions[position].error:
        return []
    pred = run.predictions[position]
    return [i for i in range(len(pred)) if pred.scores[i] >= conf]


def focused(state: UserState, conf: float) -> int | None:
    """The object the keys act on: the one chosen with ↓/↑ on this result, else its first visible object."""
    visible = _visible(state, conf)
    if not visible:
        return None
    if state.focus is not None and state.focus[0] == state.selected and state.focus[1] in visible:
        return state.focus[1]
    return visible[0]


def focus_text(state: UserState, conf: float) -> str:
    """One line: which object A and R act on, and whether it is kept."""
    run, i = state.run, focused(state, conf)
    if run is None or state.selected is None or i is None:
        return ""
    pred = run.predictions[state.selected]
    kept = i not in run.rejected.get(state.selected, set())
    return (f"Keys act on **{html.escape(review_panel.object_label(pred, i))}** ({'kept' if kept else 'rejected'}): "
            "<kbd>A</kbd> keeps it, <kbd>R</kbd> rejects it, <kbd>↓</kbd>/<kbd>↑</kbd> picks another.")


def gallery_at(state: UserState, conf: float, page_size: int, turned: bool) -> tuple[Any, Any]:
    """The gallery with the selected result highlighted (its page's pictures too when the page changed),
    and the page label."""
    visible = review_panel.gallery_positions(state.run, conf)
    place = visible.index(state.selected) - state.page * page_size if state.selected in visible else None
    if not turned:
        return gr.update(selected_index=place), gr.skip()
    items, label, _ = review_panel.refresh(state, conf, page_size)
    return gr.update(value=items, selected_index=place), label


def step_result(state: UserState, step: int, page_size: int, conf: float, *look: Any) -> tuple[Any, ...]:
    """Show the next (``step`` 1) or previous (-1) result, across gallery pages; outputs: gallery, page
    label, what ``review_panel.show`` returns, the focus line."""
    run = state.run
    visible = review_panel.gallery_positions(run, conf)  # the filter's results, in gallery order
    if not visible:
        return (gr.skip(),) * 8
    if state.selected is None or state.selected not in visible:  # the first (or last) result of the page on screen
        start = state.page * page_size
        k = min(start if step > 0 else start + page_size - 1, len(visible) - 1)
    else:
        k = min(max(0, visible.index(state.selected) + step), len(visible) - 1)
    state.selected = visible[k]
    state.focus = None
    page = k // page_size
    turned = page != state.page
    state.page = page
    gallery, label = gallery_at(state, conf, page_size, turned)
    return (gallery, label, *review_panel.show(state, conf, *look), focus_text(state, conf))


def step_object(state: UserState, step: int, conf: float) -> str:
    """Move the keys to the next (1) or previous (-1) visible object of the result; returns the focus line."""
    visible = _visible(state, conf)
    current, position = focused(state, conf), state.selected
    if current is None or position is None:
        return focus_text(state, conf)
    k = min(max(0, visible.index(current) + step), len(visible) - 1)
    state.focus = (position, visible[k])
    return focus_text(state, conf)


def judge(state: UserState, keep: bool, page_size: int, conf: float, *look: Any) -> tuple[Any, ...]:
    """Keep or reject the focused object (as unticking its checkbox does); outputs: gallery, what
    ``review_panel.show`` returns, the focus line."""
    run, i = state.run, focused(state, conf)
    if run is None or state.selected is None or i is None:
        return (gr.skip(),) * 7
    rejected = run.rejected.get(state.selected, set())
    kept = [k for k in _visible(state, conf) if k not in rejected and k != i] + ([i] if keep else [])
    review_panel.set_kept(state, conf, kept)
    state.focus = (state.selected, i)
    gallery, _ = gallery_at(state, conf, page_size, turned=True)  # the thumbnail shows what is kept
    return (gallery, *review_panel.show(state, conf, *look), focus_text(state, conf))


def wire(panel: KeysPanel, review: review_panel.ReviewPanel, state: gr.State, page_size: int) -> None:
    look = review.look  # conf, boxes, masks, labels
    stepped = [review.gallery, review.page_info, *review.shown, panel.focus]
    judged = [review.gallery, *review.shown, panel.focus]
    # queue=False and "multiple": each key press is one step, in the order pressed
    for button, step in ((panel.next, 1), (panel.prev, -1)):
        button.click(lambda s, *v, k=step: step_result(s, k, page_size, *v), [state, *look], stepped, queue=False,
                     trigger_mode="multiple", show_progress="hidden")
    for button, step in ((panel.object_next, 1), (panel.object_prev, -1)):
        button.click(lambda s, c, k=step: step_object(s, k, c), [state, review.conf], [panel.focus], queue=False,
                     trigger_mode="multiple", show_progress="hidden")
    for button, keep in ((panel.accept, True), (panel.reject, False)):
        button.click(lambda s, *v, k=keep: judge(s, k, page_size, *v), [state, *look], judged, queue=False,
                     trigger_mode="multiple", show_progress="hidden")
    # the line follows whatever changed the large view (a click in the gallery, a page, the slider)
    review.view.change(focus_text, [state, review.conf], [panel.focus], queue=False, show_progress="hidden")
