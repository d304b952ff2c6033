"""Webcam panel: frames stream to the model, predictions are drawn back on the stream with its FPS.

Each tab gets its own live stream on the server. The newest frame always wins: while the model is busy,
older frames are dropped (and counted), so the picture never lags further and further behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np

from sightline.errors import SightlineError
from sightline.ui.context import AppContext
from sightline.ui.render import draw
from sightline.ui.state import UserState, describe

STREAM_EVERY_S = 0.15
TIME_LIMIT_S = 600
# Gradio tells the server nothing when the visitor stops recording: the page's script sees the click on
# the camera's Stop (its icon says "stop recording" until the click) and presses a hidden button
STOP_JS = """() => {
  if (window.sightlineWebcamStop) return [];
  window.sightlineWebcamStop = true;
  document.addEventListener('click', (e) => {
    const button = e.target.closest && e.target.closest('#webcam button.capture-button');
    if (button && button.querySelector('[title="stop recording"]')) {
      setTimeout(() => document.getElementById('webcam-stopped')?.click(), 300);
    }
  }, true);
  return [];
}"""


@dataclass
class LivePanel:
    camera: gr.Image
    output: gr.Image
    stats: gr.Markdown
    stopped: gr.Button


def build() -> LivePanel:
    with gr.Row():
        camera = gr.Image(
            sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="webcam",
            # unmirrored: the model sees the scene as it is (a mirror would flip the frames sent too)
            webcam_options=gr.WebcamOptions(mirror=False, constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}),
        )
        output = gr.Image(label="Live predictions", type="numpy", interactive=False, elem_id="webcam-output")
    stats = gr.Markdown("Click **Click to Access Webcam** and allow the camera, then press the record button under it to "
                        "predict live.", elem_id="webcam-stats")
    stopped = gr.Button("Webcam stopped", visible="hidden", elem_id="webcam-stopped")
    return LivePanel(camera, output, stats, stopped)


def on_frame(state: UserState, frame: np.ndarray | None, conf: float) -> tuple[UserState, np.ndarray | None, str]:
    """Send the frame, draw the newest prediction on it, report the frames per second."""
    if frame is None:
        return state, None, gr.skip()
    try:
        key = (id(state.connection.model), round(float(conf), 2))
        if state.live is None or state.live_key != key:
            close(state)
            state.live = state.connection.model.live(conf=float(conf))
            state.live_key = key
        pred = state.live.push(frame)
        stats = state.live.stats()
    except SightlineError as exc:
        close(state)
        return state, frame, f"**Live predictions stopped:** {describe(exc)}"
    if pred is None or pred.image_size != frame.shape[:2]:
        return state, frame, f"Waiting for the first prediction… ({stats.received} frames sent)"
    keep = pred.scores >= conf if len(pred) else np.zeros(0, dtype=bool)
    drawn = draw(pred, frame, keep)
    latency = f", {stats.latency_ms:.0f} ms per frame" if stats.latency_ms else ""
    text = f"**{stats.fps:.1f} FPS** predicted{latency} · {len(pred)} objects · {stats.dropped} frames skipped to stay live"
    return state, drawn, text


def stopped(state: UserState) -> tuple[UserState, str]:
    """The visitor stopped recording: close the live stream on the server and say what it did."""
    live = state.live
    if live is None:
        return state, "**Webcam stopped.** Press the record button to predict live again."
    try:
        stats = live.stats()
        did = f"{stats.processed} frames predicted of {stats.received} sent ({stats.dropped} skipped to stay live); the live stream is closed. "
    except SightlineError:
        did = ""
    close(state)
    return state, f"**Webcam stopped.** {did}Press the record button to predict live again."


def close(state: UserState) -> None:
    if state.live is not None:
        try:
            state.live.close()
        finally:
            state.live = None
            state.live_key = None


def wire(panel: LivePanel, ctx: AppContext, state: gr.State, conf: gr.Slider | None = None) -> None:
    inputs = [state, panel.camera] + ([conf] if conf is not None else [])
    fn = on_frame if conf is not None else (lambda s, f: on_frame(s, f, 0.5))
    panel.camera.stream(fn, inputs, [state, panel.output, panel.stats], stream_every=STREAM_EVERY_S, time_limit=TIME_LIMIT_S,
                        concurrency_limit=None, show_progress="hidden")
    panel.stopped.click(stopped, [state], [state, panel.stats], queue=False, show_progress="hidden")
