"""``RemoteLiveStream``: a live stream whose frames go to a server, one request in flight at a time.

A frame pushed while a request is under way waits in a one-frame slot; a newer frame replaces it and
the older one is counted as dropped here, before it costs any bandwidth.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np
from PIL import Image

from sightline.client.transport import Transport
from sightline.engine.live import LiveStats
from sightline.inputs.images import array_to_rgb
from sightline.prediction import Prediction


class RemoteLiveStream:
    def __init__(self, transport: Transport, body: dict[str, Any]) -> None:
        self._transport = transport
        self.id = transport.post("/v1/live", json=body)["id"]
        self._cond = threading.Condition()
        self._pending: bytes | None = None
        self._latest: Prediction | None = None
        self._server_stats: dict[str, Any] = {}
        self._sent = self._dropped = 0
        self._closed = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sightline-live-sender", daemon=True)
        self._thread.start()

    def push(self, frame: np.ndarray) -> Prediction | None:
        buf = io.BytesIO()
        Image.fromarray(array_to_rgb(frame)).save(buf, format="JPEG", quality=90)
        with self._cond:
            if self.error is not None:
                raise self.error
            if self._pending is not None:
                self._dropped += 1
            self._pending = buf.getvalue()
            self._cond.notify_all()
            return self._latest

    def latest(self) -> Prediction | None:
        with self._cond:
            return self._latest

    def stats(self) -> LiveStats:
        """The server's counts plus the frames dropped here before sending."""
        with self._cond:
            s = dict(self._server_stats) or {"received": 0, "processed": 0, "dropped": 0, "fps": 0.0, "latency_ms": None}
            s["dropped"] += self._dropped
            s["received"] += self._dropped
            return LiveStats(**s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                data, self._pending = self._pending, None
            try:
                answer = self._transport.post(f"/v1/live/{self.id}/frames", content=data, headers={"content-type": "image/jpeg"})
            except BaseException as exc:
                with self._cond:
                    self.error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                if answer["prediction"] is not None:
                    self._latest = Prediction.from_dict(answer["prediction"])
                self._server_stats = answer["stats"]
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
        try:
            self._transport.request("DELETE", f"/v1/live/{self.id}")
        except Exception:  # the server may already be gone; nothing is left to clean up here
            pass

    def __enter__(self) -> "RemoteLiveStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
