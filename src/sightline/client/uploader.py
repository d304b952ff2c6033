"""Sends a session's local inputs to the server while it works, in small batches, in input order.

Memory stays bounded on both sides: at most one batch of file bytes is in flight, and sending waits
while more than ``window`` sent items are still unpredicted. A file over the server's limits is not
sent: it becomes a failed item with the reason, as a local run fails only that item.

The thread ends when every item is sent, when ``stop()`` is called (the session's ``stop``, ``close``
or ``with`` block), when the server's session has ended (it takes no more items), or at an error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sightline.client.downsize import Scale, shrink
from sightline.client.encoding import Encoding, encode_pixels
from sightline.client.transport import Transport
from sightline.errors import InputError, SightlineError
from sightline.inputs.images import array_to_rgb, decode_image_bytes, pil_to_rgb, read_image_file
from sightline.inputs.sources import Source, SourceList

MAX_FILES_PER_REQUEST = 16
FIRST_REQUEST_FILES = 2
MAX_BYTES_PER_REQUEST = 8 * 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart headers and the meta field, next to the files of a request


IMAGE_KINDS = ("file", "array", "pil", "bytes")  # the sources ``image_payload`` sends


@dataclass
class ImagePayload:
    """What the client sends for one image, and what it keeps to give back with the result."""

    data: bytes
    name: str
    pixels: np.ndarray | None  # the caller's in-memory pixels (not for a file): the prediction's ``image``
    scale: Scale | None  # how it was shrunk (downsizing): the result's coordinates are scaled back


def image_payload(source: Source, downsize_to: int | None, encoding: Encoding) -> ImagePayload:
    """The bytes to send for an image source (a file as it is, unless downsizing), or ``ValueError`` /
    ``SightlineError`` with the reason it cannot be read."""
    if source.kind == "file" and downsize_to is None:
        try:
            return ImagePayload(Path(source.value).read_bytes(), Path(source.value).name, None, None)
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
    kept = None if source.kind == "file" else pixels
    if downsize_to is not None:
        small = shrink(pixels, downsize_to)
        if small is not None:
            return ImagePayload(small[0], "image.jpg", kept, small[1])
    data, name = encode_pixels(pixels, encoding)
    return ImagePayload(data, name, kept, None)


class Uploader(threading.Thread):
    def __init__(
        self,
        transport: Transport,
        session_id: str,
        sources: SourceList,
        window: int,
        progress: Callable[[], int],
        wait_progress: Callable[[int, float], None],
        session_ended: Callable[[], bool],
        downsize_to: int | None = None,
        limits: dict[str, Any] | None = None,
        encoding: Encoding = "png",
        first: int = 0,
    ) -> None:
        """``first``: items before it are not sent (the server has them: a resumed session)."""
        super().__init__(name=f"sightline-upload-{session_id[:8]}", daemon=True)
        self.transport = transport
        self.sid = session_id
        self.sources = sources
        self.window = window
        self._done = progress  # how many items the server has finished
        self._wait_progress = wait_progress
        self._session_ended = session_ended  # true once the server's session is final (or unreadable)
        self.downsize_to = downsize_to
        self.encoding = encoding  # how in-memory pixels travel (client/encoding.py)
        limits = limits or {}
        self.max_file_bytes: int | None = limits.get("max_file_bytes")
        self.max_request_bytes: int | None = limits.get("max_request_bytes")
        self.max_items: int = limits.get("max_items_per_request") or 256
        self.batch_bytes = MAX_BYTES_PER_REQUEST
        if self.max_request_bytes:
            self.batch_bytes = max(1, min(MAX_BYTES_PER_REQUEST, self.max_request_bytes - FORM_OVERHEAD_BYTES))
        self.scales: dict[int, Scale] = {}  # item index -> how it was shrunk
        self.kept_images: dict[int, np.ndarray] = {}  # item index -> the caller's in-memory pixels
        self.error: BaseException | None = None
        self.first = first
        self.sent = first
        self._stopping = threading.Event()  # not "_stop": that name is threading.Thread's own method
        self._files: list[tuple[str, tuple[str, Any, str]]] = []
        self._metas: list[dict[str, Any]] = []
        self._bytes = 0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        try:
            index = 0
            for source in self.sources:
                if self._stopping.is_set():
                    return
                if index + source.count <= self.first:  # finished before the session was interrupted
                    index += source.count
                    continue
                if index < self.first:
                    raise InputError(f"the server finished part of {source.meta.get('source', 'a video')!r} before it was "
                                     "interrupted: a video sent by the client cannot be resumed part way")
                self._throttle()
                self._add(source, index)
                index += source.count
            self._flush(close=True)
        except BaseException as exc:  # surfaced by the session when the caller next reads
            # after a stop, or once the session has ended, a refused upload is expected: the session's
            # own state tells the caller what happened
            if not self._stopping.is_set() and not self._session_ended():
                self.error = exc

    def _throttle(self) -> None:
        """Wait while the server has more than ``window`` sent items unpredicted; give up once it ends."""
        while not self._stopping.is_set() and self.sent - self._done() > self.window:
            if self._session_ended():  # no progress will ever come: waiting would spin
                self._stopping.set()
                return
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
            too_big = self._over_limit(Path(source.value).name, Path(source.value).stat().st_size)
            if too_big is not None:
                self._post_failed(too_big, meta, source.count)
                return
            with open(source.value, "rb") as fh:  # streamed from disk by httpx, never read whole
                self._send([("files", (Path(source.value).name, fh, "application/octet-stream"))], [{**meta, "kind": "video"}], source.count)
        else:
            self._add_image(source, index, meta)

    def _image_bytes(self, source: Source, index: int) -> tuple[bytes, str]:
        """The bytes to send for an image source, shrunk when downsizing; raises with a reason."""
        payload = image_payload(source, self.downsize_to, self.encoding)
        if payload.pixels is not None:
            self.kept_images[index] = payload.pixels
        if payload.scale is not None:
            self.scales[index] = payload.scale
        return payload.data, payload.name

    def _add_image(self, source: Source, index: int, meta: dict[str, Any]) -> None:
        try:
            data, name = self._image_bytes(source, index)
        except (ValueError, SightlineError) as exc:
            self._flush()
            self._post_json({"items": [{"error": str(exc), "meta": meta}]}, 1)
            return
        too_big = self._over_limit(Path(str(meta.get("source") or name)).name, len(data))
        if too_big is not None:
            self._flush()
            self._post_failed(too_big, meta, 1)
            return
        if self._files and self._bytes + len(data) > self.batch_bytes:
            self._flush()  # this file would take the request over the server's request limit
        self._files.append(("files", (name, data, "application/octet-stream")))
        self._metas.append({**meta, "kind": "image"})
        self._bytes += len(data)
        # the first request is small so the server starts at once; later ones are larger and cheaper per file
        limit = FIRST_REQUEST_FILES if self.sent == 0 else MAX_FILES_PER_REQUEST
        if len(self._files) >= limit or self._bytes >= self.batch_bytes:
            self._flush()

    def _over_limit(self, name: str, size: int) -> str | None:
        """Why a file of ``size`` bytes cannot be sent to this server, or None when it can."""
        if self.max_file_bytes is not None and size > self.max_file_bytes:
            return f"{name!r} is {size:,} bytes, over the server's file limit of {self.max_file_bytes:,}"
        if self.max_request_bytes is not None and size > self.max_request_bytes - FORM_OVERHEAD_BYTES:
            return f"{name!r} is {size:,} bytes, over the server's request limit of {self.max_request_bytes:,}"
        return None

    def _post_failed(self, reason: str, meta: dict[str, Any], count: int) -> None:
        """``count`` items that failed here, each keeping its place in the session with the reason."""
        while count > 0:
            part = min(count, self.max_items)
            self._post_json({"items": [{"error": reason, "meta": meta}] * part}, part)
            count -= part

    def _flush(self, close: bool = False) -> None:
        if self._files:
            files, metas = self._files, self._metas
            self._files, self._metas, self._bytes = [], [], 0
            self._send(files, metas, len(files), close=close)
        elif close:
            self.transport.post(f"/v1/sessions/{self.sid}/close")

    def _send(self, files: list[tuple[str, tuple[str, Any, str]]], metas: list[dict[str, Any]], count: int, close: bool = False) -> None:
        data = {"meta": json.dumps(metas)}
        if close:
            data["close"] = "true"
        self.transport.post(f"/v1/sessions/{self.sid}/items", files=files, data=data)
        self.sent += count

    def _post_json(self, body: dict[str, Any], count: int) -> None:
        self.transport.post(f"/v1/sessions/{self.sid}/items", json=body)
        self.sent += count
