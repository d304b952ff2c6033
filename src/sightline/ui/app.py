"""Assemble the web app from its panels."""

from __future__ import annotations

import gradio as gr

from sightline.local import LocalModel
from sightline.ui import quick_predict

TITLE = "sightline"


def build_app(model: LocalModel) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nRun a detection or segmentation model over your images and review what it finds.")
        panel = quick_predict.build(model)
        quick_predict.wire(panel, model)
    return demo
