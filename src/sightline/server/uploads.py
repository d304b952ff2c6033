"""Items a client streams into a running session: uploaded image and video files, and URLs.

An image sent to a session of this process waits in memory (``MEMORY_BUDGET_BYTES`` for all sessions):
it is decoded once, never written to disk and read back. Video files, larger images, images past the
budget and every upload of a shared session land in the session's own folder under names the server
chooses. What the client calls a file is kept only as metadata and echoed back in results, never
joined into a path.
"""

from __future__ import annotations

import queue
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightline.errors import ConflictError, InputError
from sightline.inputs.images import decode_image_bytes, read_image_file
from sightline.inputs.items import InputItem, InputPlan
from sightline.settings import InputOptions
from sightline.video.decode import FrameFailure, decode_frames
from sightline.video.probe import probe_video
from sightline.video.sampling import frame_window

META_KEYS = ("source", "image_path", "image_url", "video_path", "project_id", "dataset_id", "image_id", "video_id")
MEMORY_BUDGET_BYTES = 256 * 1024 * 1024  # image bytes the sessions of this process keep in memory, together
SAFE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".ts", ".mpg", ".mpeg"}


def client_meta(raw: Any) -> dict[str, Any]:
    """Keep only known metadata keys with scalar values; everything else a client sends is dropped."""
    if not isinstance(raw, dict):
        return {}
    return {k: raw[k] for k in META_KEYS if isinstance(raw.get(k), (str, int)) and not isinstance(raw.get(k), bool)}


def safe_name(client_name: str | None) -> str:
    suffix = Path(client_name or "").suffix.lower()
    return uuid.uuid4().hex + (suffix if suffix in SAFE_SUFFIXES else "")


_PLANS: weakref.WeakSet[UploadPlan] = weakref.WeakSet()  # every session's input in this process, while it exists


def held_in_memory() -> int:
    """Bytes of images waiting in memory, over every session of this process."""
    return sum(plan.held_bytes for plan in list(_PLANS))


@dataclass
class Upload:
    kind: str  # "image" | "video" | "url" | "failed"
    meta: dict[str, Any]
    path: Path | None = None
    data: bytes | None = None  # an image kept in memory (a session of this process only): never on disk
    url: str | None = None
    error: str | None = None


class UploadPlan:
    """The session's input: a queue of uploads, expanded into items (video files into frames)."""

    def __init__(self, total: int, options: InputOptions, fetch_image: Callable[[str], Any], max_pixels: int) -> None:
        self.total = total
        self.options = options
        self.fetch_image = fetch_image  # URL -> RGB image, checked and bounded (the server's URL pool)
        self.max_pixels = max_pixels
        self._queue: queue.Queue[Upload | None] = queue.Queue()
        self._cancelled = threading.Event()
        self.closed = False
        self.received = 0  # items promised by the uploads so far (a video counts its sampled frames)
        self.pending = 0  # uploads not yet read by the engine
        self.held_bytes = 0  # bytes of the pending uploads kept in memory (``Upload.data``)
        self._lock = threading.Lock()
        _PLANS.add(self)

    def frames_in(self, path: Path, name: str | None = None) -> int:
        """Validate a video upload (``name``: the client's name for it) against the session's sampling options;
        returns its frame count."""
        return len(frame_window(probe_video(path, name, self.max_pixels), self.options))

    def has_room(self, size: int) -> bool:
        """An image of ``size`` bytes can wait in memory rather than on disk. Requests at once may each see
        room: the budget is exceeded by at most one file per request being read."""
        return held_in_memory() + size <= MEMORY_BUDGET_BYTES

    def add(self, upload: Upload, items: int) -> None:
        with self._lock:
            if self.closed:
                raise ConflictError("this session's input is closed: no more items can be added", 409)
            if self.received + items > self.total:
                raise ConflictError(
                    f"the session was created for {self.total} items; these uploads would make {self.received + items}", 409
                )
            self.received += items
            self.pending += 1
            self.held_bytes += len(upload.data or b"")
            self._queue.put(upload)  # under the lock: a cancel() cannot drain between the check and the put

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._queue.put(None)

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:  # the uploads will never be read: free their memory now, not when the session is dropped
            while not self._queue.empty():
                up = self._queue.get_nowait()
                if up is not None:
                    self.pending -= 1
                    self.held_bytes -= len(up.data or b"")
        self.close()

    def as_plan(self, description: str) -> InputPlan:
        return InputPlan(total=self.total, description=description, produce=self._produce)

    def _produce(self) -> Iterator[InputItem]:
        while not self._cancelled.is_set():
            try:
                upload = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if upload is None:
                return
            with self._lock:
                self.pending -= 1
                self.held_bytes -= len(upload.data or b"")
            yield from self._expand(upload)

    def _expand(self, up: Upload) -> Iterator[InputItem]:
        return expand_upload(up, self.options, self.fetch_image, self.max_pixels)


def expand_upload(up: Upload, options: InputOptions, fetch_image: Callable[[str], Any], max_pixels: int,
                  delete_read: bool = True) -> Iterator[InputItem]:
    """An upload as the items it stands for (a video: one per sampled frame, decoded or failed).
    ``delete_read``: an uploaded image file is deleted once decoded (shared sessions keep it: another
    process may read it again after a takeover)."""
    if up.kind == "image" and up.data is not None:
        data = up.data
        up.data = None  # the item holds the bytes until it is decoded, the upload no longer
        yield InputItem(meta=dict(up.meta), load=lambda: decode_image_bytes(data, max_pixels))
    elif up.kind == "image":
        path = up.path
        assert path is not None

        def load() -> Any:
            try:
                return read_image_file(path, max_pixels)
            finally:
                if delete_read:
                    path.unlink(missing_ok=True)  # the client has its copy; keep the server's disk bounded

        yield InputItem(meta=dict(up.meta), load=load)
    elif up.kind == "url":
        url = up.url or ""
        yield InputItem(meta={"source": url, "image_url": url, **up.meta}, load=lambda: fetch_image(url))
    elif up.kind == "failed":
        yield InputItem(meta=dict(up.meta), error=up.error or "the client could not read this item")
    else:
        assert up.path is not None
        try:  # the file stays until the session is deleted: annotated output and uploads read it
            info = probe_video(up.path, max_pixels=max_pixels)
            frames = frame_window(info, options)
        except InputError as exc:  # checked when it arrived (frames_in), so only a file changed since
            yield InputItem(meta=dict(up.meta), error=str(exc))
            return
        for f in decode_frames(str(up.path), frames):  # one item per sampled frame, decoded or not
            if isinstance(f, FrameFailure):
                yield InputItem(meta={**up.meta, "frame_idx": f.index}, error=f.reason)
            else:
                meta = {**up.meta, "frame_idx": f.index, "timestamp_us": f.timestamp_us}
                yield InputItem(meta=meta, image=f.image, video_file=str(up.path), fps=info.fps)
