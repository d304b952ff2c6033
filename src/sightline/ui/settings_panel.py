"""Settings panel: confidence, NMS IoU, classes to keep, image and batch size; video sampling and tracking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from sightline.errors import InputError
from sightline.models.base import ModelInfo
from sightline.ui.state import UserState

TRACKERS = ["bytetrack", "sort", "ocsort", "botsort"]


@dataclass
class SettingsPanel:
    conf: gr.Slider
    iou: gr.Slider
    classes: gr.CheckboxGroup
    img_size: gr.Number
    batch_size: gr.Slider
    stride: gr.Number
    start_frame: gr.Number
    end_frame: gr.Number
    duration: gr.Number
    tracking: gr.Checkbox
    tracker: gr.Dropdown

    @property
    def all(self) -> list[Any]:
        """The components, in the order ``collect`` takes their values."""
        return [self.conf, self.iou, self.classes, self.img_size, self.batch_size, self.stride, self.start_frame,
                self.end_frame, self.duration, self.tracking, self.tracker]


def build(info: ModelInfo) -> SettingsPanel:
    defaults = info.default_settings
    with gr.Row():
        conf = gr.Slider(0.01, 0.99, value=float(defaults.get("conf", 0.25)), step=0.01, label="Confidence", elem_id="conf")
        iou = gr.Slider(0.05, 0.95, value=float(defaults.get("iou", 0.5)), step=0.05, label="NMS IoU", elem_id="iou")
    classes = gr.CheckboxGroup(info.classes, value=list(info.classes), label="Classes to keep", elem_id="classes")
    with gr.Row():
        img_size = gr.Number(0, precision=0, minimum=0, label="Image size (0 = the model's own)", elem_id="img-size")
        batch_size = gr.Slider(1, 32, value=int(defaults.get("batch_size", 4)), step=1, label="Batch size", elem_id="batch-size")
    with gr.Accordion("Video", open=False, elem_id="video-settings"):
        with gr.Row():
            stride = gr.Number(1, precision=0, minimum=1, label="Every n-th frame", elem_id="stride")
            start_frame = gr.Number(0, precision=0, minimum=0, label="Start frame", elem_id="start-frame")
            end_frame = gr.Number(None, precision=0, minimum=0, label="End frame (0 = the end)", elem_id="end-frame")
            duration = gr.Number(None, minimum=0, label="…or seconds from the start frame (0 = all)", elem_id="duration")
        with gr.Row():
            tracking = gr.Checkbox(True, label="Track objects across frames", elem_id="tracking")
            tracker = gr.Dropdown(TRACKERS, value="bytetrack", label="Tracker", elem_id="tracker")
    return SettingsPanel(conf, iou, classes, img_size, batch_size, stride, start_frame, end_frame, duration, tracking, tracker)


def collect(state: UserState, conf: float, iou: float, classes: list[str] | None, img_size: float | None, batch_size: float,
            stride: float | None, start_frame: float | None, end_frame: float | None, duration: float | None, tracking: bool,
            tracker: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's values as ``predict`` keyword arguments: (for every input, for videos only)."""
    kwargs: dict[str, Any] = {"conf": float(conf), "iou": float(iou), "batch_size": int(batch_size)}
    known = state.connection.model.classes
    if classes is not None and set(classes) != set(known):
        if not classes:  # the model would accept it and find nothing at all
            raise InputError("Tick at least one class under Settings → Classes to keep.")
        kwargs["classes"] = list(classes)
    if img_size:
        kwargs["img_size"] = int(img_size)
    video: dict[str, Any] = {"stride": int(stride or 1), "tracking": bool(tracking), "annotated_video": True}
    if start_frame:
        video["start_frame"] = int(start_frame)
    if end_frame not in (None, 0):
        video["end_frame"] = int(end_frame)
    elif duration:
        video["duration"] = float(duration)
    if tracking:
        video["tracking_config"] = {"tracker": tracker or "bytetrack"}
    return kwargs, video


def refresh(state: UserState) -> tuple[Any, Any, Any]:
    """New choices and defaults when the connected model changes."""
    info = state.connection.model.info
    d = info.default_settings
    return (gr.update(choices=info.classes, value=list(info.classes)), gr.update(value=float(d.get("conf", 0.25))),
            gr.update(value=float(d.get("iou", 0.5))))


def wire(panel: SettingsPanel, state: gr.State) -> list:
    """Nothing fires on its own; the model panel calls ``refresh`` after a model change."""
    return [(refresh, [state], [panel.classes, panel.conf, panel.iou])]
