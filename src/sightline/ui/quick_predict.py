"""The first panel: drop images, see the demo model's boxes and masks, and a table of the objects.

This is the minimal page ``make run`` serves until the full app (model, input, run, review, upload
panels) lands. It predicts through the SDK's public ``predict`` on a model handle that talks to the
server the page is mounted on, like every later panel will.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from sightline.errors import SightlineError

from sightline.api import PredictAPI
from sightline.models.base import ModelInfo


@dataclass
class QuickPredictPanel:
    files: gr.File
    conf: gr.Slider
    run: gr.Button
    gallery: gr.Gallery
    table: gr.Dataframe
    message: gr.Markdown


def build(info: ModelInfo) -> QuickPredictPanel:
    legend = ", ".join(f"<span style='color:{c}'>■</span> {n}" for n, c in zip(info.classes, info.class_colors))
    gr.Markdown(f"**Model:** `{info.name}` · {info.task.value.replace('_', ' ')} · {info.device} · classes: {legend}")
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(label="Images", file_count="multiple", file_types=["image"])
            conf = gr.Slider(0.05, 0.95, value=float(info.default_settings.get("conf", 0.5)), step=0.05, label="Confidence")
            run = gr.Button("Predict", variant="primary")
            message = gr.Markdown()
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Results", columns=2, height=520, object_fit="contain")
            table = gr.Dataframe(headers=["image", "class", "score", "x0", "y0", "x1", "y1"], label="Objects", interactive=False)
    return QuickPredictPanel(files, conf, run, gallery, table, message)


def predict_files(model: PredictAPI, paths: list[str] | None, conf: float) -> tuple[list, list[list[Any]], str]:
    """Run the model over uploaded files; bad files are reported, never raised into the page."""
    if not paths:
        return [], [], "Add one or more images first."
    try:
        preds = model.predict(input=list(paths), conf=float(conf))
    except SightlineError as exc:  # the page shows what went wrong, never a traceback
        return [], [], f"**Could not predict:** {exc}"
    gallery, rows, problems = [], [], []
    for p in preds:
        name = (p.image_path or p.source or "").rsplit("/", 1)[-1]
        if p.error:
            problems.append(f"- **{name}**: {p.error}")
            continue
        gallery.append((p.draw(), f"{name}: {len(p)} objects"))
        for box, cls, score in zip(p.boxes, p.classes, p.scores):
            rows.append([name, cls, round(float(score), 3), *(round(float(v), 1) for v in box)])
    summary = f"{len(preds) - len(problems)} of {len(preds)} images predicted, {len(rows)} objects."
    if problems:
        summary += "\n\nThese files could not be used:\n" + "\n".join(problems)
    return gallery, rows, summary


def wire(panel: QuickPredictPanel, model: PredictAPI) -> None:
    panel.run.click(
        lambda paths, conf: predict_files(model, paths, conf),
        inputs=[panel.files, panel.conf],
        outputs=[panel.gallery, panel.table, panel.message],
    )
