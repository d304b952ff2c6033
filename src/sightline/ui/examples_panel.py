"""Examples: one click puts a bundled sample in the input (one image, the four sample images, or the sample
video) and runs it, so a first visitor sees the model work before reading anything."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from sightline.paths import SAMPLES_DIR

EXAMPLES: dict[str, tuple[str, list[str]]] = {  # button id -> (label, sample files)
    "example-one": ("One image", ["shapes_1.jpg"]),
    "example-images": ("Four images", ["shapes_1.jpg", "shapes_2.jpg", "shapes_3.jpg", "shapes_4.jpg"]),
    "example-video": ("The sample video", ["moving_shapes.mp4"]),
}


@dataclass
class ExamplesPanel:
    buttons: dict[str, gr.Button]


def build() -> ExamplesPanel:
    with gr.Row(elem_id="examples", elem_classes=["sl-examples"]):
        gr.Markdown("**Try it:** one click runs a bundled sample", elem_classes=["sl-examples-note"])
        buttons = {key: gr.Button(label, size="sm", elem_id=key, scale=0, min_width=140) for key, (label, _) in EXAMPLES.items()}
    return ExamplesPanel(buttons)


def sample_upload(name: str) -> str:
    """A copy of a bundled sample in Gradio's upload folder, as if a visitor had dropped it: the input
    handlers take only uploaded files (``uploads.uploaded_file``). Made once per process."""
    folder = Path(get_upload_folder()) / "sightline-samples"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / name
    if not copy.exists():
        part = copy.with_suffix(copy.suffix + ".part")
        shutil.copyfile(SAMPLES_DIR / name, part)
        part.replace(copy)  # never half a file for a second tab clicking at the same time
    return str(copy)


def pick(key: str) -> tuple[Any, Any, Any, Any]:
    """The input panel's kind, image files, video and tab after a click on example ``key``."""
    _, names = EXAMPLES[key]
    files = [sample_upload(n) for n in names]
    if names[0].endswith(".mp4"):
        return "video", gr.skip(), files[0], gr.Tabs(selected="video")
    return "images", files, gr.skip(), gr.Tabs(selected="images")
