"""Run panel: one button starts a detached session; a timer shows its progress and fills the gallery;
Stop ends it within one batch and keeps what is finished. The session id lives in the browser's local
storage, so a refreshed page finds the same run again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from sightline.errors import SightlineError
from sightline.ui import input_panel, review_panel, settings_panel
from sightline.ui.context import AppContext
from sightline.ui.render import progress_html
from sightline.ui.state import Run, UserState, describe

TICK_S = 1.0


@dataclass
class RunPanel:
    run: gr.Button
    stop: gr.Button
    progress: gr.HTML
    message: gr.Markdown
    timer: gr.Timer
    remembered: gr.BrowserState


def build() -> RunPanel:
    with gr.Row():
        run = gr.Button("Run", variant="primary", elem_id="run", scale=3)
        stop = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
    progress = gr.HTML(progress_html(None), elem_id="progress")
    message = gr.Markdown(elem_id="run-message")
    timer = gr.Timer(TICK_S, active=False)
    # a fixed key and secret, so a restarted app still reads what browsers stored (it is not a secret)
    remembered = gr.BrowserState({"session": None}, storage_key="sightline-run", secret="sightline-run-v1")
    return RunPanel(run, stop, progress, message, timer, remembered)


# --- handlers -------------------------------------------------------------------------------------
def start(ctx: AppContext, state: UserState, sources: list[Any], settings: list[Any]) -> tuple[UserState, str, str, Any, dict]:
    """Start a detached session on the connected model with the chosen input and settings."""
    try:
        if state.run is not None and not state.run.status().state.is_final:
            return state, gr.skip(), "A run is still going: stop it first, or wait for it to finish.", gr.skip(), gr.skip()
        chosen = input_panel.choose(ctx, state, *sources)
        kwargs, video = settings_panel.collect(state, *settings)
        if chosen.kind == "video" or ("video_id" in chosen.kwargs):
            kwargs |= video
        model = state.connection.model
        session = model.predict_detached(chosen.input, **chosen.kwargs, **kwargs)
    except SightlineError as exc:
        return state, gr.skip(), f"**Could not start:** {describe(exc)}", gr.skip(), gr.skip()
    run = Run(session, model, chosen.kind, float(kwargs["conf"]), video_source=chosen.video_source)
    ctx.runs.add(run)
    state.run, state.selected, state.page = run, None, 0
    return state, progress_html(run.status()), "", gr.Timer(active=True), {"session": run.id}


def stop(state: UserState) -> str:
    """Ask the session to stop after the batch in flight (answers at once; the timer shows the end)."""
    run = state.run
    if run is None or run.status().state.is_final:
        return "Nothing is running."
    try:
        run.session.stop()
    except SightlineError as exc:
        return f"**Could not stop:** {describe(exc)}"
    return "Stopping after the batch in flight; finished results stay."


def tick(state: UserState, conf: float, page_size: int) -> tuple[Any, ...]:
    """Progress, new gallery entries and, at the end, the annotated video; the timer stops with the run."""
    run = state.run
    if run is None:
        return progress_html(None), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False), gr.skip()
    try:
        status = run.status()  # before pulling, so a final status never misses its last results
        new = run.pull()
    except SightlineError as exc:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"**The run could not be read:** {describe(exc)}", gr.Timer(active=False), gr.skip()
    final = status.state.is_final and len(run.predictions) >= status.done
    n, lo = len(run.predictions), state.page * page_size
    landed = new and n - new < lo + page_size and n > lo  # some new results are on the page on screen
    if landed or final:  # the page on screen changed; results landing on later pages only move the counters
        gallery, page, counts = review_panel.refresh(state, conf, page_size)
    elif new:
        gallery, page, counts = gr.skip(), review_panel.page_label(run, state.page, page_size), review_panel.counts(run, conf)
    else:
        gallery, page, counts = gr.skip(), gr.skip(), gr.skip()
    video, message = _finish(run, status) if final else (gr.skip(), gr.skip())
    return progress_html(status), gallery, page, counts, message, gr.Timer(active=not final), video


def _finish(run: Run, status: Any) -> tuple[Any, Any]:
    """Fetch the annotated video of a finished video run once."""
    note = {"completed": "", "stopped": "Stopped: the results finished before the stop are kept below."}.get(status.state.value, "")
    if status.error:
        note = f"**The run failed:** {status.error}"
    if run.kind != "video" or run.annotated_video is not None:
        return gr.skip(), note or gr.skip()
    try:
        run.annotated_video = str(run.session.annotated_video(run.folder / "annotated.mp4"))
    except SightlineError as exc:
        return gr.skip(), f"{note}\n\nThe annotated video is not available: {describe(exc)}"
    return gr.update(value=run.annotated_video, visible=True), note or gr.skip()


def restore(ctx: AppContext, state: UserState | None, remembered: dict | None) -> tuple[UserState, str, Any]:
    """On page load: a fresh tab state, attached to the run this browser started, if the app still has it."""
    state = state if isinstance(state, UserState) else ctx.new_user()
    session_id = (remembered or {}).get("session")
    run = ctx.runs.get(session_id) if session_id else None
    if run is None:
        return state, progress_html(None), gr.Timer(active=False)
    state.run = run
    try:
        shown = progress_html(run.status())
    except SightlineError:  # its server is gone: the timer's first tick says so in words
        shown = progress_html(None)
    return state, shown, gr.Timer(active=True)


def wire(panel: RunPanel, ctx: AppContext, state: gr.State, inputs: input_panel.InputPanel, settings: settings_panel.SettingsPanel,
         review: review_panel.ReviewPanel, page_size: int) -> Callable:
    n_sources, n_settings = len(inputs.sources), len(settings.all)

    def on_start(s: UserState, *values: Any) -> tuple[Any, ...]:
        return start(ctx, s, list(values[:n_sources]), list(values[n_sources:n_sources + n_settings]))

    panel.run.click(
        on_start, [state, *inputs.sources, *settings.all], [state, panel.progress, panel.message, panel.timer, panel.remembered]
    ).then(
        lambda s: (None, gr.update(value=None, visible=False), s.run.conf if s.run else gr.skip()), [state],
        [review.view, review.video, review.conf], queue=False,
    )
    panel.stop.click(stop, [state], [panel.message], queue=False)
    panel.timer.tick(
        lambda s, c: tick(s, c, page_size), [state, review.conf],
        [panel.progress, review.gallery, review.page_info, review.counts, panel.message, panel.timer, review.video],
        show_progress="hidden", concurrency_limit=None,
    )
    return lambda s, r: restore(ctx, s, r)
