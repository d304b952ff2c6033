"""``RemoteLiveStream``: a live stream whose frames go to a server, one request in flight at a time.

A frame pushed while a request is under way waits in a one-frame slot; a newer frame replaces it and
the older one is counted as dropped here, before it costs any bandwidth.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from sightline.client.transport import Transport
from sightline.engine.live import LiveStats, NewestFrameWorker
from sightline.inputs.images import array_to_rgb
from sightline.prediction import Prediction


class RemoteLiveStream(NewestFrameWorker):
    def __init__(self, transport: Transport, body: dict[str, Any]) -> None:
        super().__init__("sightline-live-sender")
        self._transport = transport
        self.id = transport.post("/v1/live", json=body)["id"]
        self._server_stats: dict[str, Any] = {}
        self._thread.start()

    def push(self, frame: np.ndarray) -> Prediction | None:
        """Queue a frame for sending; returns the newest prediction the server has sent back."""
        buf = io.BytesIO()
        Image.fromarray(array_to_rgb(frame)).save(buf, format="JPEG", quality=90)
        return self._offer(buf.getvalue())

    def stats(self) -> LiveStats:
        """The server's counts plus the frames dropped here before sending."""
        with self._cond:
            s = dict(self._server_stats) or {"received": 0, "processed": 0, "dropped": 0, "fps": 0.0, "latency_ms": None}
            s["dropped"] += self._dropped
            s["received"] += self._dropped
            return LiveStats(**s)

    def _process(self, data: bytes) -> Prediction | None:
        answer = self._transport.post(f"/v1/live/{self.id}/frames", content=data, headers={"content-type": "image/jpeg"})
        with self._cond:
            self._server_stats = answer["stats"]
        return None if answer["prediction"] is None else Prediction.from_dict(answer["prediction"])

    def close(self) -> None:
        super().close()
        try:
            self._transport.request("DELETE", f"/v1/live/{self.id}")
        except Exception:  # the server may already be gone; nothing is left to clean up here
            pass
