"""Assemble the web app from its panels, and serve it with the REST API on one port."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from sightline.api import PredictAPI
from sightline.models.base import ModelInfo
from sightline.ui import quick_predict

TITLE = "sightline"


def build_ui(model: PredictAPI, info: ModelInfo) -> gr.Blocks:
    """The page. ``model`` is how the page predicts; ``info`` describes it without a request."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nRun a detection or segmentation model over your images and review what it finds.")
        panel = quick_predict.build(info)
        quick_predict.wire(panel, model)
    return demo


def mount_ui(api: FastAPI, model: PredictAPI, info: ModelInfo) -> FastAPI:
    """Mount the page at ``/`` of the server app; the API's own routes keep precedence."""
    return gr.mount_gradio_app(api, build_ui(model, info), path="/")
