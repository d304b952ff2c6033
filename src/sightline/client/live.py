"""``RemoteLiveStream``: a live stream whose frames go to a server, one request in flight at a time.

A frame pushed while a request is under way waits in a one-frame slot; a newer frame replaces it and
the older one is counted as dropped here, before it costs any bandwidth.

The server answers a frame at once with its newest finished prediction, usually of an earlier frame.
So that ``latest()`` reaches the last frame once frames stop, as a local stream's does, the sender
then asks the server for news until it has caught up (or a newer frame is waiting to go, or
``CATCH_UP_S`` pass). The sender thread ends at ``close()`` or at an error.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
from PIL import Image

from sightline.client.transport import Transport
from sightline.engine.live import LiveStats, NewestFrameWorker
from sightline.inputs.images import array_to_rgb
from sightline.prediction import Prediction

CATCH_UP_POLL_S = 0.05  # between asks for news while the server works on the last frame sent
CATCH_UP_S = 30.0  # the longest the sender asks before it gives up on the server catching up


def _server_busy(stats: dict[str, Any]) -> bool:
    """The server still holds a frame it has neither predicted nor dropped."""
    received, processed, dropped = (int(stats.get(k, 0)) for k in ("received", "processed", "dropped"))
    return received > processed + dropped


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
        newest = self._take(answer)
        deadline = time.monotonic() + CATCH_UP_S
        while _server_busy(answer["stats"]) and time.monotonic() < deadline:
            with self._cond:
                if self._closed or self._pending is not None:
                    break  # a newer frame goes first; its answer brings the news
                self._cond.wait(CATCH_UP_POLL_S)  # a push or close wakes this early
                if self._closed or self._pending is not None:
                    break
            answer = self._transport.get(f"/v1/live/{self.id}")
            taken = self._take(answer)  # a prediction with no objects is news too (it is falsy: len() 0)
            if taken is not None:
                newest = taken
        return newest

    def _take(self, answer: dict[str, Any]) -> Prediction | None:
        """Keep the server's stats and newest prediction from an answer."""
        pred = None if answer["prediction"] is None else Prediction.from_dict(answer["prediction"])
        with self._cond:
            self._server_stats = answer["stats"]
            if pred is not None:
                self._latest = pred
        return pred

    def close(self) -> None:
        super().close()
        try:
            self._transport.request("DELETE", f"/v1/live/{self.id}")
        except Exception:  # the server may already be gone; nothing is left to clean up here
            pass
