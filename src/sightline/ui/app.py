"""Assemble the web app from its panels, and serve it with the REST API on one port.

The page is a client of the SDK: every panel predicts, uploads and lists the workspace through a
``RemoteModel`` on the server it is mounted on (or on another server the user connects to).
"""

from __future__ import annotations

import os
from typing import Any

import gradio as gr
from fastapi import FastAPI

from sightline.client.remote import RemoteModel
from sightline.models.base import ModelInfo
from sightline.models.zoo import list_models
from sightline.ui import (
    examples_panel,
    existing_panel,
    export_panel,
    input_panel,
    keys,
    live_panel,
    model_panel,
    review_panel,
    run_panel,
    settings_panel,
    upload_panel,
)
from sightline.ui.context import AppContext, UIConfig
from sightline.ui.login_throttle import LoginThrottle
from sightline.ui.render import CSS

# the page's layout: a run bar that stays in view, gallery captions read whole, the list of keys
LAYOUT_CSS = """
.gradio-container { overflow: clip !important; }  /* "hidden" makes it a scroll box, in which the bar could not stick */
#run-bar { position: sticky; top: 0; z-index: 50; padding: 6px 8px; background: var(--background-fill-primary);
           box-shadow: 0 2px 6px rgba(0, 0, 0, 0.08); }
#gallery .caption-label { white-space: normal; overflow-wrap: break-word; max-width: none; left: 4px; right: 4px; font-size: 0.8em; line-height: 1.25; }
.sl-keys { color: var(--body-text-color-subdued, #6b7280); font-size: 0.9em; }
.sl-keys kbd, #key-object kbd { border: 1px solid var(--border-color-primary); border-radius: 3px; padding: 0 4px; font-size: 0.9em; }
.sl-examples { align-items: center; }
"""

TITLE = "sightline"
INTRO = (
    f"# {TITLE}\nRun a detection or segmentation model over images, videos, URLs, the webcam or the workspace; "
    "review what it finds; upload the good results."
)


def build_ui(ctx: AppContext) -> gr.Blocks:
    """The page, one panel per section; each panel's ``wire`` connects its events."""
    page_size = ctx.config.gallery_page
    # files Gradio keeps for the page (uploads, gallery pictures) are deleted a day after they were made
    with gr.Blocks(title=TITLE, delete_cache=(3600, 86400)) as demo:
        # made for each tab when its first event reads it (Gradio's session state calls the function), so a
        # click before the page finished loading meets a state too; when Gradio forgets a closed tab, its
        # webcam stream on the server is closed too (its run stays findable by id)
        state = gr.State(lambda: ctx.new_user(), delete_callback=lambda s: live_panel.close(s) if s is not None else None)
        # not also in a page-load event of its own, which Gradio adds for a function's value: that event runs
        # beside ``restore`` below and, finishing after it on a busy server, replaced the state ``restore``
        # had attached the tab's run to with an empty one (the reloaded tab showed no run, an empty gallery)
        state.load_event_to_attach = None
        gr.Markdown(INTRO)
        model = model_panel.build(ctx)
        examples = examples_panel.build()
        # the run bar sticks to the top of the window: Run, Stop and progress stay in view however long
        # the page grows (many files, a long object list, the upload section)
        with gr.Group(elem_id="run-bar"):
            run = run_panel.build()
        with gr.Row(equal_height=False, elem_id="main-row"):
            with gr.Column(scale=5, min_width=380):
                gr.Markdown("### 1 · Input")
                inputs = input_panel.build(ctx)
                with gr.Accordion("2 · Settings", open=True, elem_id="settings"):
                    settings = settings_panel.build(ctx.own_info)
            with gr.Column(scale=7, min_width=660):
                gr.Markdown("### 3 · Review")
                review = review_panel.build(under_view=keys.build)
                existing = existing_panel.build()
        with gr.Accordion("4 · Upload to the workspace", open=True, elem_id="upload-section"):
            upload = upload_panel.build()
        with gr.Accordion("5 · Export", open=True, elem_id="export-section"):
            export = export_panel.build()
        with gr.Accordion("Past runs", open=True, elem_id="past-section"):
            run_panel.build_past(run)

        followups = settings_panel.wire(settings, state)
        followups += input_panel.wire(inputs, ctx, state)
        model_panel.wire(model, ctx, state, followups)
        live_panel.wire(inputs.live, ctx, state, settings.conf)
        restore, open_run = run_panel.wire(run, ctx, state, inputs, settings, review, page_size,
                                           follow=(upload_panel.describe_target, upload.mode, upload.target))
        for key, button in examples.buttons.items():
            run.start_with(button.click(lambda k=key: examples_panel.pick(k), None,
                                        [inputs.kind, inputs.files, inputs.video, inputs.group], queue=False))
        selection_changed = review_panel.wire(review, state, page_size)
        keys.wire(review.under_view, review, state, page_size)
        upload_panel.wire(upload, state, review.conf, followups)
        existing_panel.wire(existing, state, review.conf, upload.mode, upload.threshold, selection_changed)
        export_panel.wire(export, state, review.conf)
        for started in run.started:
            started.then(upload_panel.mode_for_run, [state, upload.mode], [upload.mode])
            started.then(review_panel.class_choices, [state], [review.filter_classes], queue=False)
        attached = [state, *run.attached, review.video, run.past]

        def redraw(event: Any) -> None:
            """After the tab shows another run: its confidence, gallery, empty large view, upload target."""
            event.then(
                lambda s: s.run.conf if s is not None and s.run else gr.skip(), [state], [review.conf], queue=False
            ).then(
                lambda s, *look: (*review_panel.refresh(s, look[0], page_size), *review_panel.show(s, *look)),
                [state, *review.look], [*review.refreshed, *review.shown],
            ).then(upload_panel.describe_target, [state, upload.mode], [upload.target]
            ).then(review_panel.class_choices, [state], [review.filter_classes], queue=False)

        # the tab's and the browser's ids come from the page's script (run_panel.IDS_JS), then the tab's run
        redraw(demo.load(None, None, [run.tab, run.browser], js=run_panel.IDS_JS).then(restore, [state, run.tab, run.browser], attached))
        demo.load(None, None, None, js=keys.JS)
        demo.load(None, None, None, js=live_panel.STOP_JS)
        def open_clicked(s: Any, evt: gr.SelectData) -> tuple[Any, ...]:
            return open_run(s, run_panel.past_id(evt))

        assert run.past is not None  # laid out above (build_past)
        redraw(run.past.select(open_clicked, [state], attached))
    # handlers are short (runs happen in the session's own threads), so many users' clicks proceed at once
    demo.queue(default_concurrency_limit=16)
    return demo


def mount_ui(api: FastAPI, own: RemoteModel, info: ModelInfo, config: UIConfig | None = None) -> FastAPI:
    """Mount the page at ``/`` of the server app; the API's own routes keep precedence.

    ``own`` is the SDK handle on that server, ``info`` its default model (the page is built before the
    server answers requests).
    """
    config = config or UIConfig()
    ctx = AppContext(own=own, own_info=info, config=config, zoo_names=[e.name for e in list_models()])
    api.add_middleware(LoginThrottle, trusted_proxies=api.state.sightline.trusted_proxies)
    demo = build_ui(ctx)
    mounted = gr.mount_gradio_app(
        api, demo, path="/", auth=config.auth(), auth_message=config.auth_message(),
        max_file_size=f"{config.max_file_mb:g}mb", css=CSS + LAYOUT_CSS, theme=gr.themes.Soft(), footer_links=["api"],
        allowed_paths=_paths_from_env("GRADIO_ALLOWED_PATHS"), blocked_paths=_paths_from_env("GRADIO_BLOCKED_PATHS"),
    )
    check_files_as_launched(demo)
    return mounted


def _paths_from_env(name: str) -> list[str]:
    """A comma-separated list of folders from the environment, read as ``launch()`` reads it."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def check_files_as_launched(demo: gr.Blocks) -> None:
    """Make Gradio check the file paths a visitor sends, as it does for an app started with ``launch()``.

    Gradio refuses a client's file path outside its upload cache (``processing_utils._check_allowed``) only
    once ``has_launched`` is set, which ``launch()`` does and ``mount_gradio_app`` does not: mounted, any
    visitor could have had any file this process can read (``/etc/passwd``, the workspace database, a
    checkpoint) copied into the cache and served back. ``mount_gradio_app`` has already set
    ``allowed_paths``/``blocked_paths`` as ``launch()`` would; this is the one flag it leaves unset.
    """
    demo.has_launched = True
