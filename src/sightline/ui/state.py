"""What one browser tab holds: the connected model, the current run and the reviewer's decisions.

Runs are also kept in a process-wide registry by session id, by the tab that started them and by the
browser they belong to: a reloaded tab (its id lives in the tab's ``sessionStorage``) re-attaches to its
own run, and the browser's other runs (its id lives in ``localStorage``) are listed, never swapped in.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from sightline.client.remote import RemoteModel
from sightline.detections import subset
from sightline.engine.session import PredictionSession
from sightline.engine.status import SessionStatus
from sightline.errors import RequestTimeoutError, ServerConnectionError, SightlineError
from sightline.prediction import Prediction


@dataclass(frozen=True)
class Connection:
    """The model the page predicts with, and where it is served."""

    model: RemoteModel
    label: str  # "this app's server" or the URL connected to

    def __deepcopy__(self, memo: dict) -> Connection:
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
    model_name: str = ""
    label: str = ""  # what was run, in words: "3 images", "moving_shapes.mp4", "workspace project 2"
    started_at: float = field(default_factory=time.time)
    lost: str | None = None  # why the page can no longer follow the run (its server is gone): set once
    last_status: SessionStatus | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # caches the panels keep per run
    # the reviewer's fixes: the model's own prediction of each edited position, and an edit count per position
    originals: dict[int, Prediction] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    filter: Any = None  # the gallery's filter (``filters.ReviewFilter``) of the tab viewing this run; None shows all
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

    def wait_result(self, timeout: float) -> None:
        """Wait at most ``timeout`` for a result not pulled yet (or the end of the session); a session that
        cannot be read is left for the next ``status()`` to report."""
        try:
            self.session.wait_result(len(self.predictions), timeout)
        except SightlineError:
            pass

    def status(self) -> SessionStatus:
        """The session's status; after the run is lost, the last one the page saw (nothing is asked)."""
        if self.lost is not None and self.last_status is not None:
            return self.last_status
        status = self.session.status()
        self.last_status = status
        return status

    def is_going(self) -> bool:
        """True while the run may still produce results; a run whose server is gone is not going."""
        if self.lost is not None:
            return False
        try:
            return not self.status().state.is_final
        except SightlineError as exc:
            self.lose(exc)
            return False

    def lose(self, exc: BaseException) -> str:
        """Mark the run as one the page can no longer follow; returns the words that say why."""
        where = self.model.url if self.model is not None else "its server"
        if isinstance(exc, (ServerConnectionError, RequestTimeoutError)):
            why = f"The server at {where} is gone: it could not be reached ({describe(exc)})."
        else:
            why = f"The run on the server at {where} could not be read: {describe(exc)}."
        if self.lost is None:
            self.lost = why
        return self.lost

    def known_status(self) -> SessionStatus | None:
        """The last status read, or read now (a server that cannot answer marks the run lost): for lists."""
        if self.last_status is None and self.lost is None:
            try:
                return self.status()
            except SightlineError as exc:
                self.lose(exc)
        return self.last_status

    def kept(self, position: int, conf: float) -> np.ndarray:
        """Boolean mask of the objects of one prediction that pass ``conf`` and were not rejected."""
        pred = self.predictions[position]
        keep = pred.scores >= conf
        for i in self.rejected.get(position, ()):
            if i < len(keep):
                keep[i] = False
        return keep

    def reviewed(self, conf: float) -> list[Prediction]:
        """The successful predictions as reviewed: the reviewer's fixes (class, box, deleted objects) applied,
        and only the objects kept (at or above ``conf``, not rejected). What an upload or an export sends."""
        return [self.reviewed_one(k, conf) for k, pred in enumerate(self.predictions) if pred.error is None]

    def reviewed_one(self, position: int, conf: float) -> Prediction:
        """One prediction as reviewed (see ``reviewed``)."""
        pred = self.predictions[position]
        return dataclasses.replace(pred, detections=subset(pred.detections, self.kept(position, conf)), upload=None)

    def edit(self, position: int, fixed: Prediction, kept_from: dict[int, int]) -> None:
        """Put the reviewer's fixed prediction in place of ``position``'s; ``kept_from`` maps each object index
        of the prediction it replaces that lives on to its index in ``fixed`` (rejections follow them)."""
        with self._lock:
            self.originals.setdefault(position, self.predictions[position])
            rejected = {kept_from[i] for i in self.rejected.get(position, ()) if i in kept_from}
            self.predictions[position] = fixed
            self.versions[position] = self.versions.get(position, 0) + 1
            if rejected:
                self.rejected[position] = rejected
            else:
                self.rejected.pop(position, None)

    def undo_edits(self, position: int) -> bool:
        """The model's own objects back at ``position`` (its rejections are cleared); False if it had no fixes."""
        with self._lock:
            original = self.originals.pop(position, None)
            if original is None:
                return False
            self.predictions[position] = original
            self.versions[position] = self.versions.get(position, 0) + 1
            self.rejected.pop(position, None)
            return True


@dataclass
class UserState:
    """Everything one tab needs between events (kept by Gradio per tab, never shared)."""

    connection: Connection
    run: Run | None = None
    selected: int | None = None  # position of the prediction in the large view
    focus: tuple[int, int] | None = None  # (result, object) the keyboard accepts or rejects (``keys``)
    page: int = 0
    shown: list[int] = field(default_factory=list)  # the positions of the results on the gallery page on screen
    live: Any = None  # the webcam's live stream on the server, while it streams
    live_key: tuple | None = None  # (model, conf) the live stream was opened with
    tab: str | None = None  # this tab's id (kept in its sessionStorage): a reload finds the tab's run by it
    browser: str | None = None  # this browser's id (kept in its localStorage): its past runs are listed by it


BROWSER_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def valid_id(value: Any) -> str | None:
    """A tab or browser id the page's script made, or ``None`` for anything else a client sends."""
    return value if isinstance(value, str) and BROWSER_ID.match(value) else None


class RunRegistry:
    """Runs by session id, by the tab that runs them and by the browser they belong to, so a reloaded tab
    finds its own run and a browser lists its runs. Old runs are forgotten (and their files deleted)."""

    def __init__(self, keep: int = 64) -> None:
        self._runs: dict[str, Run] = {}
        self._tabs: dict[str, str] = {}  # tab id -> session id of the run it shows
        self._browsers: dict[str, list[str]] = {}  # browser id -> session ids, oldest first
        self._starting: dict[str, threading.Event] = {}  # tabs whose Run was pressed and not answered yet
        self._lock = threading.Lock()
        self.keep = keep

    def add(self, run: Run, tab: str | None = None, browser: str | None = None) -> None:
        with self._lock:
            self._runs[run.id] = run
            if browser:
                self._browsers.setdefault(browser, []).append(run.id)
            if tab:
                self._tabs[tab] = run.id
            while len(self._runs) > self.keep:
                old = self._runs.pop(next(iter(self._runs)))
                shutil.rmtree(old.folder, ignore_errors=True)  # its thumbnails and downloaded video
            known = self._runs.keys()
            self._tabs = {t: r for t, r in self._tabs.items() if r in known}
            self._browsers = {b: kept for b, ids in self._browsers.items() if (kept := [r for r in ids if r in known])}

    def get(self, session_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(session_id)

    def show_in(self, tab: str | None, run: Run) -> None:
        """``tab`` shows ``run`` from now on (it opened a past run): a reload finds that one."""
        if tab:
            with self._lock:
                self._tabs[tab] = run.id

    def starting(self, tab: str | None) -> _Starting:
        """Marks the tab's Run as pressed until the block ends, so a reload meanwhile waits for the run."""
        return _Starting(self, tab)

    def of_tab(self, tab: str | None, wait_s: float = 30.0) -> Run | None:
        """The run the tab shows; if the tab's Run is being started, waits for it (at most ``wait_s``)."""
        if not tab:
            return None
        with self._lock:
            pending = self._starting.get(tab)
        if pending is not None:
            pending.wait(wait_s)
        with self._lock:
            session_id = self._tabs.get(tab)
            return self._runs.get(session_id) if session_id else None

    def of_browser(self, browser: str | None) -> list[Run]:
        """The browser's runs the app still has, newest first."""
        with self._lock:
            return [self._runs[r] for r in reversed(self._browsers.get(browser or "", [])) if r in self._runs]


class _Starting:
    def __init__(self, registry: RunRegistry, tab: str | None) -> None:
        self.registry, self.tab, self.event = registry, tab, threading.Event()

    def __enter__(self) -> Self:
        if self.tab:
            with self.registry._lock:
                self.registry._starting[self.tab] = self.event
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tab:
            with self.registry._lock:
                if self.registry._starting.get(self.tab) is self.event:
                    del self.registry._starting[self.tab]
        self.event.set()


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


TEMP_PATH = re.compile("(?:" + "|".join(re.escape(d.rstrip("/")) for d in {tempfile.gettempdir(), "/tmp"}) + r")/[^\s'\"]*/([^/\s'\"]+)")


def describe(value: Any) -> str:
    """A short readable form of an exception for the page (Markdown): the message, never a traceback, a
    file in a temporary folder (an upload's copy on the server) by its name only, and ``<`` ``>`` kept."""
    text = str(value).strip() or type(value).__name__
    text = TEMP_PATH.sub(r"\1", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")  # Markdown would take "<key>" for a tag and drop it
    return text.splitlines()[0] if len(text) > 600 else text
