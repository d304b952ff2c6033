"""Run panel: one button starts a detached session; a timer shows its progress and fills the gallery;
Stop ends it within one batch and keeps what is finished.

Each tab owns its run: the page's script gives the tab an id kept in its ``sessionStorage`` (and the
browser one kept in ``localStorage``); the app keeps which run each tab shows, so a reloaded tab finds
its own run, and lists the browser's other runs under **Past runs**, to open one on purpose. When the
run's server goes away, the page says so, keeps what arrived, and lets the user run again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from sightline.errors import SightlineError
from sightline.ui import input_panel, review_panel, settings_panel
from sightline.ui.context import AppContext
from sightline.ui.render import progress_html
from sightline.ui.state import Run, UserState, describe, valid_id

TICK_S = 1.0
# Run answers once the first result is in, for at most this long: its reply shows the first picture, a
# timer tick (up to TICK_S) sooner; a slower first result is shown by a tick as before
FIRST_RESULT_S = 1.0
# the tab's id lives in sessionStorage (a reload keeps it, another tab has its own), the browser's in
# localStorage; getRandomValues works on plain http too, where crypto.randomUUID does not exist
IDS_JS = """() => {
  const make = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, '0')).join('');
  const get = (store, key) => { let v = store.getItem(key); if (!v) { v = make(); store.setItem(key, v); } return v; };
  return [get(sessionStorage, 'sightline-tab'), get(localStorage, 'sightline-browser')];
}"""


PAST_HEADERS = ["when", "model", "input", "state", "results", "objects kept", "failed", "run"]


@dataclass
class RunPanel:
    run: gr.Button
    stop: gr.Button
    progress: gr.HTML
    message: gr.Markdown
    timer: gr.Timer
    tab: gr.Textbox
    browser: gr.Textbox
    past: gr.Dataframe | None = None  # made by ``build_past``, where the page puts the list
    started: list[Any] = field(default_factory=list)  # the events that start a run: other panels follow them with .then
    start_inputs: list[Any] = field(default_factory=list)  # set by ``wire``: what ``start_with`` chains
    start_outputs: list[Any] = field(default_factory=list)
    on_start: Callable | None = None

    @property
    def attached(self) -> list[Any]:
        """What ``restore`` and ``open_run`` return after the state, in order (the video comes from review)."""
        return [self.progress, self.timer, self.message]

    def start_with(self, event: Any) -> Any:
        """Start a run after ``event`` (an example's click) as the Run button does; returns the event."""
        started = event.then(self.on_start, self.start_inputs, self.start_outputs, show_progress_on=[self.progress])
        self.started.append(started)
        return started


def build() -> RunPanel:
    """The run bar: Run, Stop, the progress bar and the run's message (the page keeps it in view)."""
    with gr.Row(equal_height=True, elem_classes=["sl-run-row"]):
        run = gr.Button("▶ Run", variant="primary", elem_id="run", scale=1, min_width=110)
        stop = gr.Button("■ Stop", variant="stop", elem_id="stop", scale=1, min_width=90)
        progress = gr.HTML(progress_html(None), elem_id="progress", scale=6, min_width=300)
    message = gr.Markdown(elem_id="run-message")
    timer = gr.Timer(TICK_S, active=False)
    tab = gr.Textbox(visible="hidden", elem_id="tab-id")
    browser = gr.Textbox(visible="hidden", elem_id="browser-id")
    return RunPanel(run, stop, progress, message, timer, tab, browser)


def build_past(panel: RunPanel) -> None:
    """The list of this browser's runs; a click on one opens it in this tab."""
    panel.past = gr.Dataframe(headers=PAST_HEADERS, value=[], label="Past runs of this browser: click one to open it here",
                              interactive=False, wrap=True, elem_id="past-runs")


# --- handlers -------------------------------------------------------------------------------------
def start(ctx: AppContext, state: UserState, sources: list[Any], settings: list[Any]) -> tuple[UserState, str, str, Any, Any]:
    """Start a detached session on the connected model with the chosen input and settings; the last
    output is the list of past runs, which now has this one too."""
    if state.run is not None and state.run.is_going():
        return state, gr.skip(), "A run is still going: stop it first, or wait for it to finish.", gr.skip(), gr.skip()
    try:
        chosen = input_panel.choose(ctx, state, *sources)
        kwargs, video = settings_panel.collect(state, *settings)
        if chosen.kind == "video" or ("video_id" in chosen.kwargs):
            kwargs |= video
        model = state.connection.model
        with ctx.runs.starting(state.tab):  # a reload of this tab meanwhile waits for the run, and finds it
            session = model.predict_detached(chosen.input, **chosen.kwargs, **kwargs)
            run = Run(session, model, chosen.kind, float(kwargs["conf"]), video_source=chosen.video_source,
                      model_name=model.info.name, label=chosen.label)
            ctx.runs.add(run, tab=state.tab, browser=state.browser)
    except SightlineError as exc:
        # the new reason replaces the old run's failure in the bar: one error on screen, the current one
        before = state.run
        old = before.last_status if before is not None else None
        bar = progress_html(old, lost=before.lost is not None, error=False) if before is not None and old is not None and old.error \
            else gr.skip()
        return state, bar, f"**Could not start:** {describe(exc)}", gr.skip(), gr.skip()
    state.run, state.selected, state.page = run, None, 0
    return state, progress_html(run.status()), chosen.note, gr.Timer(active=True), past_runs(ctx, state)


def stop(state: UserState) -> str:
    """Ask the session to stop after the batch in flight (answers at once; the timer shows the end)."""
    run = state.run
    if run is None or not run.is_going():
        return f"Nothing is running. {run.lost}" if run is not None and run.lost else "Nothing is running."
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
    if run.lost is not None:  # a restored or reopened lost run: show it as it was, ask nothing
        return progress_html(run.last_status, lost=True), gr.skip(), gr.skip(), gr.skip(), lost_message(run), gr.Timer(active=False), gr.skip()
    try:
        status = run.status()  # before pulling, so a final status never misses its last results
        new = run.pull()
    except SightlineError as exc:  # its server is gone: say so, keep what arrived, let the tab run again
        run.lose(exc)
        return progress_html(run.last_status, lost=True), gr.skip(), gr.skip(), gr.skip(), lost_message(run), gr.Timer(active=False), gr.skip()
    if state.run is not run:  # the tab opened or started another run meanwhile: what this tick read is stale
        return (gr.skip(),) * 7
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
    if state.run is not run:  # the tab opened or started another run meanwhile: what this tick read is stale
        return (gr.skip(),) * 7
    return progress_html(status), gallery, page, counts, message, gr.Timer(active=not final), video


def _finish(run: Run, status: Any) -> tuple[Any, Any]:
    """Fetch the annotated video of a finished video run once."""
    note = {"completed": "", "stopped": "Stopped: the results finished before the stop are kept below."}.get(status.state.value, "")
    if status.error:
        note = f"**The run failed:** {status.error}"
    if run.kind != "video":
        return gr.skip(), note or gr.skip()
    if run.annotated_video is not None:  # fetched before: a restored page shows it again
        return gr.update(value=run.annotated_video, visible=True), note or gr.skip()
    try:
        # a RemotePredictionSession's (where to save); issue 12 puts one annotated_video() on the base class
        run.annotated_video = str(run.session.annotated_video(run.folder / "annotated.mp4"))
    except SightlineError as exc:
        return gr.skip(), f"{note}\n\nThe annotated video is not available: {describe(exc)}"
    return gr.update(value=run.annotated_video, visible=True), note or gr.skip()


def lost_message(run: Run) -> str:
    n = len(run.predictions)
    return (f"**{run.lost}** The {n} result{'s' if n != 1 else ''} that arrived before are kept below. Connect again, or go "
            "back to this app's server (Change model), then press **Run** to start again.")


def show_first(state: UserState, conf: float, look: tuple[Any, ...], gallery: Any) -> tuple[Any, ...]:
    """When a run's first result arrives and nothing is selected, it opens in the large view by itself (a
    one-image run needs no click). Returns the gallery output (``gallery``, the tick's, with the highlight
    on that result), the large view, its name, objects and table."""
    run = state.run
    if run is None or state.selected is not None or not run.predictions or run.extras.get("first_shown") or state.page != 0:
        return (gallery, *(gr.skip(),) * 4)
    run.extras["first_shown"] = True
    state.selected = 0
    view, name, keep, table, _ = review_panel.show(state, conf, *look)
    highlighted = gr.update(value=gallery, selected_index=0) if isinstance(gallery, list) else gr.update(selected_index=0)
    return highlighted, view, name, keep, table


def _skipped(value: Any) -> bool:
    return isinstance(value, dict) and value == gr.skip()


def video_shown(run: Run | None) -> Any:
    if run is not None and run.annotated_video:
        return gr.update(value=run.annotated_video, visible=True)
    return gr.update(value=None, visible=False)


def past_row(run: Run, shown: bool) -> list[Any]:
    """One line of the past runs: when, model, input, state, results, objects kept, failed, session id."""
    status = run.known_status()
    when = time.strftime("%H:%M:%S", time.localtime(run.started_at)) + (" (shown)" if shown else "")
    state = "server gone" if run.lost else status.state.value if status is not None else "?"
    results = f"{status.done} of {status.total or '?'}" if status is not None else f"{len(run.predictions)} of ?"
    ok = [k for k, p in enumerate(run.predictions) if p.error is None]
    found = sum(len(run.predictions[k]) for k in ok)
    kept = sum(int(run.kept(k, run.conf).sum()) for k in ok)
    objects = f"{kept} of {found}" if kept != found else str(found)
    failed = status.failed if status is not None else sum(1 for p in run.predictions if p.error is not None)
    return [when, run.model_name, run.label or run.kind, state, results, objects, failed, run.id]


def past_runs(ctx: AppContext, state: UserState) -> Any:
    """The browser's runs the app still has, newest first, one row each (the run this tab shows is marked)."""
    current = state.run.id if state.run is not None else None
    return gr.update(value=[past_row(r, r.id == current) for r in ctx.runs.of_browser(state.browser)])


def past_id(evt: gr.SelectData) -> str | None:
    """The session id of the row clicked in the list of past runs (its last column)."""
    row = evt.row_value if isinstance(evt.row_value, list) else None
    return str(row[-1]) if row else None


def attach(state: UserState, run: Run | None) -> tuple[str, Any, Any, Any]:
    """Progress, timer, message and annotated video of the run the tab shows from now on."""
    state.run, state.selected, state.page = run, None, 0
    if run is None:
        return progress_html(None), gr.Timer(active=False), "", video_shown(None)
    if run.lost is None:
        try:
            return progress_html(run.status()), gr.Timer(active=True), "", video_shown(run)
        except SightlineError as exc:
            run.lose(exc)
    return progress_html(run.last_status, lost=True), gr.Timer(active=False), lost_message(run), video_shown(run)


def adopt_ids(ctx: AppContext, state: UserState, tab: str | None, browser: str | None) -> None:
    """The tab's and browser's ids (made by the page's script as it loads) for this tab's state; on this
    app's own server the tab then acts as that browser, so its runs are the browser's own."""
    state.tab, state.browser = valid_id(tab), valid_id(browser)
    if state.connection.model is ctx.own:  # the page's own handle until now: act as this browser from here on
        state.connection = ctx.own_connection(state.browser)


def restore(ctx: AppContext, state: UserState | None, tab: str | None, browser: str | None) -> tuple[Any, ...]:
    """On page load: a fresh tab state, attached to the run this tab showed before a reload (if the app
    still has it); the browser's other runs go to the list of past runs."""
    state = state if isinstance(state, UserState) else ctx.new_user()
    adopt_ids(ctx, state, tab, browser)
    shown = attach(state, ctx.runs.of_tab(state.tab))
    return (state, *shown, past_runs(ctx, state))


def open_run(ctx: AppContext, state: UserState, session_id: str | None) -> tuple[Any, ...]:
    """Show one of this browser's past runs in this tab (a reload then finds that one)."""
    run = next((r for r in ctx.runs.of_browser(state.browser) if r.id == session_id), None)
    if run is None:
        return (state, gr.skip(), gr.skip(), "Click one of this browser's past runs first.", gr.skip(), past_runs(ctx, state))
    if state.run is not None and state.run is not run and state.run.is_going():
        return (state, gr.skip(), gr.skip(), "A run is still going in this tab: stop it first, or wait for it to finish.",
                gr.skip(), gr.skip())
    ctx.runs.show_in(state.tab, run)
    return (state, *attach(state, run), past_runs(ctx, state))


def first_results(state: UserState, look: tuple[Any, ...], page_size: int) -> tuple[Any, ...]:
    """For a run just started: its progress, gallery page, page label, counts, and the large view with
    its name, objects and table, after waiting (at most ``FIRST_RESULT_S``) for its first result; the
    old run's pictures go either way. ``look`` is the large view's boxes, masks and labels toggles."""
    run = state.run
    assert run is not None
    run.wait_result(FIRST_RESULT_S)
    try:
        run.pull()
        progress = progress_html(run.status())  # after the pull: pushed results may come before the status that counts them
    except SightlineError:  # the server went away meanwhile: the first tick says so
        progress = gr.skip()
    conf = run.conf
    gallery, page, counts = review_panel.refresh(state, conf, page_size)
    gallery, *view = show_first(state, conf, look, gallery)
    if not run.extras.get("first_shown"):  # no result yet: the large view is emptied
        view = list(review_panel.show(state, conf, *look)[:4])
    return progress, gallery, page, counts, *view


def wire(panel: RunPanel, ctx: AppContext, state: gr.State, inputs: input_panel.InputPanel, settings: settings_panel.SettingsPanel,
         review: review_panel.ReviewPanel, page_size: int, follow: tuple[Callable[[UserState, Any], str], Any, Any] | None = None
         ) -> tuple[Callable, Callable]:
    """Returns the page-load and open-a-past-run handlers (``app`` chains the review's redraw after them).
    ``follow`` is (function of the state and an input, that input, the output it writes): a text of another
    panel that may change as results arrive (where an upload goes); the timer sends it with new results."""
    assert panel.past is not None, "build_past(panel) lays out the list of past runs before wire"
    n_sources, n_settings = len(inputs.sources), len(settings.all)
    toggles = [review.boxes, review.masks, review.labels]
    cleared = [*review.refreshed, *review.shown, review.video, review.conf]

    def on_start(s: UserState, tab: str | None, browser: str | None, *values: Any) -> tuple[Any, ...]:
        # Run is unqueued and can overtake the page-load handler (``restore``, queued): a run started
        # before it would belong to no browser and no tab, so the ids are taken here too
        if s.browser is None and s.tab is None:
            adopt_ids(ctx, s, tab, browser)
        before = s.run
        state_out, progress, message, timer, past = start(ctx, s, list(values[:n_sources]), list(values[n_sources:n_sources + n_settings]))
        if s.run is None or s.run is before:  # nothing started: the old run stays on screen
            return (state_out, progress, message, timer, past, *[gr.skip()] * len(cleared))
        # a new run: the old one's gallery, large view, objects and counts go at once, replaced by its first
        # result when that comes within FIRST_RESULT_S (else the timer shows it)
        progress_now, gallery, page, counts, *view = first_results(s, values[n_sources + n_settings:], page_size)
        if not _skipped(progress_now):  # the progress after the wait
            progress = progress_now
        return (state_out, progress, message, timer, past, gallery, page, counts, *view, counts, video_shown(None), s.run.conf)

    # queue=False: the start is handled as its request arrives, so a reload right after pressing Run
    # cannot drop it from the queue; the reloaded tab then waits for it (RunRegistry.starting). While its
    # reply waits for the first result, only the progress bar shows it working (see the tick below)
    panel.on_start, panel.start_inputs = on_start, [state, panel.tab, panel.browser, *inputs.sources, *settings.all, *toggles]
    panel.start_outputs = [state, panel.progress, panel.message, panel.timer, panel.past, *cleared]
    panel.started.append(panel.run.click(on_start, panel.start_inputs, panel.start_outputs, queue=False, show_progress_on=[panel.progress]))
    panel.stop.click(stop, [state], [panel.message], queue=False)
    first_shown = [review.view, review.view_name, review.keep, review.table]  # review.shown less the counts tick gives
    tick_outputs = [panel.progress, review.gallery, review.page_info, review.counts, panel.message, panel.timer, review.video, *first_shown,
                    panel.past, *([follow[2]] if follow is not None else [])]

    def on_tick(s: UserState, conf: float, *values: Any) -> tuple[Any, ...]:
        look, extra = values[:3], values[3:]  # boxes, masks, labels; then what ``follow`` reads
        before = s.run
        progress, gallery, *rest = tick(s, conf, page_size)
        page, counts, message, timer, video = rest
        if s.run is not before or _skipped(timer):  # another run was opened or started during this tick: its handler shows it
            return (gr.skip(),) * len(tick_outputs)
        gallery, *first = show_first(s, conf, look, gallery)
        ended = s.run is not None and not timer.active  # the timer stops: the list of past runs shows the end
        # what did not change is not sent (each output sent is work for Gradio's server and the page): an
        # active timer stays active; the followed text changes only with new results (its input's own
        # events redraw it otherwise)
        followed = [] if follow is None else [follow[0](s, *extra) if not _skipped(counts) else gr.skip()]
        timer = gr.skip() if timer.active else timer
        return (progress, gallery, page, counts, message, timer, video, *first, past_runs(ctx, s) if ended else gr.skip(), *followed)

    # one tick event a second for everything the run shows (each event costs the page and Gradio's server
    # a round of status messages and state updates whatever it returns); its loading state goes on the
    # progress bar only (show_progress_on), as Run's does: Gradio's page updates the loading state of
    # every target on each status message and animates each pending one every frame, a quarter of the
    # browser's CPU in a run (docs/benchmarks.md)
    panel.timer.tick(
        on_tick, [state, *review.look, *([follow[1]] if follow is not None else [])], tick_outputs,
        show_progress="hidden", show_progress_on=[panel.progress], concurrency_limit=None,
    )
    return (lambda s, t, b: restore(ctx, s, t, b)), (lambda s, r: open_run(ctx, s, r))
