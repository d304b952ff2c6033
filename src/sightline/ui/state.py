"""What one browser tab holds: the connected model, the current run and the reviewer's decisions.

Runs are also kept in a process-wide registry by session id, so a refreshed page (which remembers the
id in the browser's local storage) re-attaches to the very same run, uploads and results included.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage, ImageOps

from sightline.client.remote import RemoteModel
from sightline.engine.session import PredictionSession
from sightline.engine.status import SessionStatus
from sightline.errors import SightlineError
from sightline.prediction import Prediction


@dataclass(frozen=True)
class Connection:
    """The model the page predicts with, and where it is served."""

    model: RemoteModel
    label: str  # "this app's server" or the URL connected to

    def __deepcopy__(self, memo: dict) -> "Connection":
        return self  # Gradio deep-copies each tab's new state; the model handle is shared and thread-safe


@dataclass
class Run:
    """A detached session started from the page, and what the page has read of it so far."""

    session: PredictionSession
    model: RemoteModel
    kind: str  # "images", "video", "urls" or "workspace"
    conf: float  # the confidence the model ran at: the review slider can only go up from here
    video_source: str | None = None  # a local video file, for reading frames back
    predictions: list[Prediction] = field(default_factory=list)
    rejected: dict[int, set[int]] = field(default_factory=dict)  # prediction position -> object indices
    annotated_video: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # caches the panels keep per run
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sightline-ui-")))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def id(self) -> str:
        return str(getattr(self.session, "id", ""))

    def pull(self) -> int:
        """Fetch results that arrived since the last call; returns how many are new."""
        with self._lock:
            new = self.session.results(after=len(self.predictions))
            self.predictions.extend(new)
            return len(new)

    def status(self) -> SessionStatus:
        return self.session.status()

    def kept(self, position: int, conf: float) -> np.ndarray:
        """Boolean mask of the objects of one prediction that pass ``conf`` and were not rejected."""
        pred = self.predictions[position]
        keep = pred.scores >= conf
        for i in self.rejected.get(position, ()):
            if i < len(keep):
                keep[i] = False
        return keep

    def reviewed(self, conf: float) -> list[Prediction]:
        """The successful predictions with only the objects the reviewer keeps: what an upload sends."""
        out = []
        for k, pred in enumerate(self.predictions):
            if pred.error is None:
                out.append(dataclasses.replace(pred, detections=pred.detections[self.kept(k, conf)], upload=None))
        return out


@dataclass
class UserState:
    """Everything one tab needs between events (kept by Gradio per tab, never shared)."""

    connection: Connection
    run: Run | None = None
    selected: int | None = None  # position of the prediction in the large view
    page: int = 0
    live: Any = None  # the webcam's live stream on the server, while it streams
    live_key: tuple | None = None  # (model, conf) the live stream was opened with


class RunRegistry:
    """Runs by session id, so a refreshed page finds its run again. Old finished runs are forgotten."""

    def __init__(self, keep: int = 64) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self.keep = keep

    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = run
            while len(self._runs) > self.keep:
                old = self._runs.pop(next(iter(self._runs)))
                shutil.rmtree(old.folder, ignore_errors=True)  # its thumbnails and downloaded video

    def get(self, session_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(session_id)


RUNS = RunRegistry()


def source_pixels(model: RemoteModel, pred: Prediction, video_source: str | None = None) -> np.ndarray:
    """The RGB image a prediction was made on: a local file, a URL, a video frame or a workspace image."""
    if pred._image is not None:
        return pred._image
    if video_source and pred.frame_idx is not None:  # the page's own copy of the video it sent
        from sightline.video.decode import read_frame

        try:
            return read_frame(video_source, pred.frame_idx)
        except (ValueError, RuntimeError) as exc:
            raise SightlineError(f"frame {pred.frame_idx} of {pred.source!r} could not be read: {exc}") from None
    if pred.image_path or pred.image_url or (pred.video_path and pred.frame_idx is not None):
        try:
            return pred.load_image()
        except SightlineError:
            if pred.image_id is None:
                raise
    if pred.image_id is not None:
        return model.workspace.read_image(pred.image_id)
    raise SightlineError(f"the image of {pred.source!r} cannot be shown: it is not a file, URL or workspace image")


def preview_pixels(model: RemoteModel, pred: Prediction, video_source: str | None, side: int) -> np.ndarray:
    """The source image at about ``side`` pixels: a local JPEG is decoded at reduced scale (several times
    cheaper than decoding it whole and shrinking it), a workspace image comes as the server's thumbnail,
    anything else is loaded whole."""
    if pred._image is None and pred.image_path and pred.image_size:
        try:
            with PILImage.open(pred.image_path) as im:
                if im.format == "JPEG":
                    ratio = side / max(im.size)
                    im.draft("RGB", (max(1, int(im.width * ratio)), max(1, int(im.height * ratio))))  # DCT scaling: at least that
                    return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        except OSError:
            pass  # the full loader below says what is wrong with the file
    if pred._image is None and pred.image_id is not None and not pred.image_path and not pred.image_url and pred.image_size:
        from sightline.inputs.images import decode_image_bytes

        return decode_image_bytes(model.workspace.thumbnail(pred.image_id, size=side))  # the server shrinks it
    return source_pixels(model, pred, video_source)


def describe(value: Any) -> str:
    """A short readable form of an exception for the page: the message, never a traceback."""
    text = str(value).strip() or type(value).__name__
    return text.splitlines()[0] if len(text) > 600 else text
