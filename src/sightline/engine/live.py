"""Live frames (a webcam, a stream): each frame in, the newest prediction out.

The model never queues up work: a frame that arrives while another waits replaces it and is counted
as dropped, so latency stays at about one inference whatever the camera's frame rate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sightline.inputs.images import array_to_rgb
from sightline.prediction import Prediction


@dataclass
class LiveStats:
    received: int
    processed: int
    dropped: int
    fps: float  # predictions per second over the last few seconds
    latency_ms: float | None  # from a frame's arrival to its prediction, last frame

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NewestFrameWorker:
    """A worker thread fed through a one-item slot: an item offered while another waits replaces it
    (the replaced one counts as dropped). Subclasses say what ``_process`` does with an item."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._pending: Any = None
        self._latest: Prediction | None = None
        self._dropped = 0
        self._closed = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _offer(self, item: Any) -> Prediction | None:
        with self._cond:
            if self.error is not None:
                raise self.error
            if self._pending is not None:
                self._dropped += 1
            self._pending = item
            self._on_offer()
            self._cond.notify_all()
            return self._latest

    def _on_offer(self) -> None:
        """Called under the lock when an item is offered."""

    def _process(self, item: Any) -> Prediction | None:
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                item, self._pending = self._pending, None
            try:
                pred = self._process(item)
            except BaseException as exc:  # raised to the caller at its next push
                with self._cond:
                    self.error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                if pred is not None:
                    self._latest = pred
                self._cond.notify_all()

    def latest(self) -> Prediction | None:
        with self._cond:
            return self._latest

    @property
    def alive(self) -> bool:
        """Whether the worker thread still runs (``close`` ends it)."""
        return self._thread.is_alive()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def __enter__(self) -> NewestFrameWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveStream(NewestFrameWorker):
    """Feed frames with ``push``; read ``latest()`` and ``stats()``. Use as a context manager."""

    def __init__(self, predict: Callable[[np.ndarray], Prediction], tracking_config: dict[str, Any] | None = None, fps_hint: float = 30.0) -> None:
        super().__init__("sightline-live")
        self._predict = predict
        from sightline.video.tracking import VideoTracker  # the trackers package (OpenCV) only when tracking

        self._tracker = VideoTracker(tracking_config, fps_hint) if tracking_config is not None else None
        self._received = self._processed = 0
        self._done_times: deque[float] = deque(maxlen=30)
        self._latency: float | None = None
        self._started = time.monotonic()
        self._thread.start()

    def push(self, frame: np.ndarray) -> Prediction | None:
        """Hand over a frame (RGB); returns the newest finished prediction, which may be of an earlier frame."""
        return self._offer((self._received, time.monotonic(), array_to_rgb(frame)))

    def _on_offer(self) -> None:
        self._received += 1

    def wait_for(self, frame_number: int, timeout: float = 30.0) -> Prediction | None:
        """Block until a prediction of frame ``frame_number`` or later exists."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._latest is None or (self._latest.frame_idx or 0) < frame_number) and self.error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._latest

    def stats(self) -> LiveStats:
        with self._cond:
            times = list(self._done_times)
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            return LiveStats(self._received, self._processed, self._dropped, fps, self._latency)

    def _process(self, item: tuple[int, float, np.ndarray]) -> Prediction:
        number, arrived, image = item
        pred = self._predict(image)
        pred.frame_idx = number
        pred.timestamp_us = int((arrived - self._started) * 1e6)
        pred._image = image
        if self._tracker is not None:
            self._tracker.update(pred.detections, image, arrived)
        now = time.monotonic()
        with self._cond:
            self._processed += 1
            self._done_times.append(now)
            self._latency = (now - arrived) * 1000
        return pred
