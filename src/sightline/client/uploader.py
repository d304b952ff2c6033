"""Sends a session's local inputs to the server while it works, in small batches, in input order.

Memory stays bounded on both sides: at most one batch of file bytes is in flight, and sending waits
while more than ``window`` sent items are still unpredicted.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sightline.client.downsize import Scale, shrink
from sightline.client.transport import Transport
from sightline.errors import SightlineError
from sightline.inputs.images import array_to_rgb, decode_image_bytes, pil_to_rgb, read_image_file
from sightline.inputs.sources import Source, SourceList

MAX_FILES_PER_REQUEST = 16
FIRST_REQUEST_FILES = 2
MAX_BYTES_PER_REQUEST = 8 * 1024 * 1024


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class Uploader(threading.Thread):
    def __init__(
        self,
        transport: Transport,
        session_id: str,
        sources: SourceList,
        window: int,
        progress: Callable[[], int],
        wait_progress: Callable[[int, float], None],
        downsize_to: int | None = None,
    ) -> None:
        super().__init__(name=f"sightline-upload-{session_id[:8]}", daemon=True)
        self.transport = transport
        self.sid = session_id
        self.sources = sources
        self.window = window
        self._done = progress  # how many items the server has finished
        self._wait_progress = wait_progress
        self.downsize_to = downsize_to
        self.scales: dict[int, Scale] = {}  # item index -> how it was shrunk
        self.kept_images: dict[int, np.ndarray] = {}  # item index -> the caller's in-memory pixels
        self.error: BaseException | None = None
        self.sent = 0
        self._stop = threading.Event()
        self._files: list[tuple[str, tuple[str, Any, str]]] = []
        self._metas: list[dict[str, Any]] = []
        self._bytes = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            index = 0
            for source in self.sources:
                if self._stop.is_set():
                    return
                self._throttle()
                self._add(source, index)
                index += source.count
            self._flush(close=True)
        except BaseException as exc:  # surfaced by the session when the caller next reads
            if not self._stop.is_set():  # after a stop, a refused upload is expected, not an error
                self.error = exc

    def _throttle(self) -> None:
        while not self._stop.is_set() and self.sent - self._done() > self.window:
            self._wait_progress(self.sent - self.window, 0.5)

    def _add(self, source: Source, index: int) -> None:
        meta = dict(source.meta)
        if source.kind == "url":
            self._flush()
            self._post_json({"items": [{"url": source.value, "meta": meta}]}, 1)
        elif source.kind == "failed":
            self._flush()
            self._post_json({"items": [{"error": source.error, "meta": meta}]}, 1)
        elif source.kind == "video":
            self._flush()
            with open(source.value, "rb") as fh:  # streamed from disk by httpx, never read whole
                self._send([("files", (Path(source.value).name, fh, "application/octet-stream"))], [{**meta, "kind": "video"}], source.count)
        else:
            self._add_image(source, index, meta)

    def _image_bytes(self, source: Source, index: int) -> tuple[bytes, str]:
        """The bytes to send for an image source, shrunk when downsizing; raises with a reason."""
        if source.kind == "file" and self.downsize_to is None:
            try:
                return Path(source.value).read_bytes(), Path(source.value).name
            except FileNotFoundError:
                raise ValueError("the file does not exist") from None
            except OSError as exc:
                raise ValueError(f"the file could not be read ({exc.strerror or exc})") from None
        if source.kind == "file":
            pixels = read_image_file(source.value)
        elif source.kind == "array":
            pixels = array_to_rgb(source.value)
        elif source.kind == "pil":
            pixels = pil_to_rgb(source.value)
        else:
            pixels = decode_image_bytes(source.value)
        if source.kind != "file":
            self.kept_images[index] = pixels
        if self.downsize_to is not None:
            small = shrink(pixels, self.downsize_to)
            if small is not None:
                self.scales[index] = small[1]
                return small[0], "image.jpg"
        return _png(pixels), "image.png"

    def _add_image(self, source: Source, index: int, meta: dict[str, Any]) -> None:
        try:
            data, name = self._image_bytes(source, index)
        except (ValueError, SightlineError) as exc:
            self._flush()
            self._post_json({"items": [{"error": str(exc), "meta": meta}]}, 1)
            return
        self._files.append(("files", (name, data, "application/octet-stream")))
        self._metas.append({**meta, "kind": "image"})
        self._bytes += len(data)
        # the first request is small so the server starts at once; later ones are larger and cheaper per file
        limit = FIRST_REQUEST_FILES if self.sent == 0 else MAX_FILES_PER_REQUEST
        if len(self._files) >= limit or self._bytes >= MAX_BYTES_PER_REQUEST:
            self._flush()

    def _flush(self, close: bool = False) -> None:
        if self._files:
            files, metas = self._files, self._metas
            self._files, self._metas, self._bytes = [], [], 0
            self._send(files, metas, len(files), close=close)
        elif close:
            self.transport.post(f"/v1/sessions/{self.sid}/close")

    def _send(self, files: list, metas: list[dict[str, Any]], count: int, close: bool = False) -> None:
        data = {"meta": json.dumps(metas)}
        if close:
            data["close"] = "true"
        self.transport.post(f"/v1/sessions/{self.sid}/items", files=files, data=data)
        self.sent += count

    def _post_json(self, body: dict[str, Any], count: int) -> None:
        self.transport.post(f"/v1/sessions/{self.sid}/items", json=body)
        self.sent += count
