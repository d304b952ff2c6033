"""Export panel: download what the review keeps, in the formats other tools read.

Every format comes from code the SDK already has, on the objects ``Run.reviewed`` gives (the one place
the review's choices, and later its edits, are applied): COCO, YOLO and Supervisely through the
workspace exporters (``cli.outputs.RunOutputs``, as ``sightline predict --format`` writes them), CSV
through supervision's ``CSVSink``, annotated images drawn by ``Prediction.draw``, and for a video the
timeline (``video.timeline.build_timeline``) and the annotated video (the run's own while the review
kept every object, else drawn again from the source video with the kept and fixed objects).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from sightline.errors import SightlineError
from sightline.prediction import Prediction
from sightline.ui.state import Run, UserState, describe, source_pixels

FORMATS: dict[str, str] = {
    "coco": "COCO JSON",
    "yolo": "YOLO",
    "supervisely": "Supervisely",
    "csv": "CSV",
    "annotated": "annotated images (zip)",
    "timeline": "timeline JSON (video)",
    "video": "annotated video (video)",
}
IMAGE_FORMATS = ("coco", "yolo", "supervisely", "csv", "annotated")
VIDEO_FORMATS = ("csv", "timeline", "video")


@dataclass
class ExportPanel:
    formats: gr.CheckboxGroup
    export: gr.Button
    files: gr.File
    message: gr.Markdown


def build() -> ExportPanel:
    formats = gr.CheckboxGroup([(v, k) for k, v in FORMATS.items()], value=["coco"], label="Formats", elem_id="export-formats")
    export = gr.Button("Export", elem_id="export")
    message = gr.Markdown(elem_id="export-message")
    files = gr.File(label="Files to download", file_count="multiple", interactive=False, height=140, elem_id="export-files")
    return ExportPanel(formats, export, files, message)


# --- handlers -------------------------------------------------------------------------------------
def is_video(run: Run) -> bool:
    return run.kind == "video" or any(p.frame_idx is not None for p in run.predictions)


def export(state: UserState, formats: list[str] | None, conf: float) -> tuple[Any, str]:
    """Write each chosen format of what the review keeps; returns the files to download and a summary."""
    run = state.run
    if run is None:
        return None, "Nothing to export yet: run the model first."
    if run.is_going():
        return None, "**The run is still going:** wait for it to finish, or press **Stop** (finished results stay), then export."
    wanted = [f for f in FORMATS if f in (formats or [])]
    if not wanted:
        return None, "Tick one or more formats first."
    fits = VIDEO_FORMATS if is_video(run) else IMAGE_FORMATS
    unfit = [FORMATS[f] for f in wanted if f not in fits]
    if unfit:
        what = "a video run" if is_video(run) else "a run on images"
        return None, f"**{', '.join(unfit)}** cannot be exported from {what}: choose among {', '.join(FORMATS[f] for f in fits)}."
    predictions = run.reviewed(conf)
    if not predictions:
        return None, "Every item of this run failed: there is nothing to export."
    n = len(list(run.folder.glob("export-*")))
    folder = run.folder / f"export-{n + 1}"
    folder.mkdir(parents=True)
    files: list[str] = []
    notes: list[str] = []
    try:
        image_formats = [f for f in wanted if f in ("coco", "yolo", "supervisely")]
        if image_formats:
            files += workspace_formats(run, predictions, image_formats, folder, notes)
        if "csv" in wanted:
            files.append(csv_file(predictions, folder / "objects.csv"))
        if "annotated" in wanted:
            files.append(annotated_zip(run, predictions, folder / "annotated.zip", notes))
        if "timeline" in wanted:
            files.append(timeline_file(predictions, folder / "timeline.json"))
        if "video" in wanted:
            files.append(annotated_video(run, predictions, folder, notes))
    except (SightlineError, OSError) as exc:
        return None, f"**Could not export:** {describe(exc)}"
    objects = sum(len(p) for p in predictions)
    text = (f"Exported **{objects}** kept object{'s' if objects != 1 else ''} of {len(predictions)} result"
            f"{'s' if len(predictions) != 1 else ''} (confidence ≥ {conf:.2f}, rejected objects left out): "
            + ", ".join(Path(f).name for f in files) + ".")
    if notes:
        text += "\n\n" + "\n".join(f"- {describe(x)}" for x in notes[:10])
    return files, text


def workspace_formats(run: Run, predictions: list[Prediction], formats: list[str], folder: Path, notes: list[str]) -> list[str]:
    """COCO / YOLO / Supervisely written by the workspace exporters, as ``sightline predict`` writes them;
    one zip per format."""
    from sightline.cli.outputs import RunOutputs

    out = RunOutputs(run.model, folder / "formats", list(formats), annotated=False)
    for pred in predictions:
        out.add(pred)
    out.finish()
    notes += out.warnings
    return [_zip(out.written[f], folder / f"{f}.zip") for f in formats]


def _zip(source: Path, target: Path) -> str:
    return shutil.make_archive(str(target.with_suffix("")), "zip", root_dir=source)


def csv_file(predictions: list[Prediction], path: Path) -> str:
    """One row per kept object (box corners, class, score, track id) with the item it belongs to."""
    import supervision as sv

    from sightline.cli.outputs import ItemNames

    names = ItemNames()
    with sv.CSVSink(str(path)) as sink:
        for pred in predictions:
            sink.append(pred.detections, custom_data={
                "item": names(pred), "frame": "" if pred.frame_idx is None else int(pred.frame_idx),
                "image_id": "" if pred.image_id is None else int(pred.image_id),
            })
    return str(path)


def annotated_zip(run: Run, predictions: list[Prediction], path: Path, notes: list[str]) -> str:
    """Each result's image drawn with its kept objects (``Prediction.draw``), as JPEG files in one zip."""
    import io

    from PIL import Image

    from sightline.cli.outputs import ItemNames

    names = ItemNames()
    with zipfile.ZipFile(path, "w") as archive:
        for pred in predictions:
            name = names(pred)
            try:
                drawn = pred.draw(source_pixels(run.model, pred, run.video_source))
            except SightlineError as exc:
                notes.append(f"{name} left out of the annotated images: {exc}")
                continue
            buffer = io.BytesIO()
            Image.fromarray(drawn).save(buffer, format="JPEG", quality=90)
            archive.writestr(f"{name}.jpg", buffer.getvalue())
    return str(path)


def timeline_file(predictions: list[Prediction], path: Path) -> str:
    """Per tracked object: class, the time ranges it is seen, its observations (``build_timeline``)."""
    from sightline.video.timeline import build_timeline

    path.write_text(json.dumps(build_timeline(predictions).to_dict(), indent=1))
    return str(path)


def annotated_video(run: Run, predictions: list[Prediction], folder: Path, notes: list[str]) -> str:
    """The annotated video of what the review keeps (``predictions``, from ``Run.reviewed``).

    The run's own video, drawn by the server, shows every object found at the run's confidence: it is
    the export only while the review left every object and fixed none (then it is fetched once per run).
    Otherwise the video is drawn again here, from the run's source video (the page's copy, see
    ``review_panel.local_video``), with the kept and fixed objects only."""
    target = folder / "annotated.mp4"
    found = sum(len(p) for p in run.predictions if p.error is None)
    if not run.originals and sum(len(p) for p in predictions) == found:
        if run.annotated_video is None:
            run.annotated_video = str(run.session.annotated_video(run.folder / "annotated.mp4"))
        return str(Path(shutil.copy(run.annotated_video, target)))
    from sightline.ui.review_panel import local_video
    from sightline.video.encode import redraw_annotated_video

    source = local_video(run)
    if source is None:
        why = run.extras.get("video_copy_failed") or "the run is not on one video file"
        raise SightlineError(f"the annotated video cannot be drawn with the review's choices: its source video is not at hand ({why})")
    import av

    try:
        written, left_out = redraw_annotated_video(source, predictions, target)
    except (ValueError, RuntimeError, av.FFmpegError) as exc:
        raise SightlineError(f"the annotated video could not be drawn: {exc}") from None
    notes += [f"left out of the annotated video: {reason}" for reason in left_out]
    return str(written)


def wire(panel: ExportPanel, state: gr.State, conf: gr.Slider) -> None:
    panel.export.click(export, [state, panel.formats, conf], [panel.files, panel.message])
