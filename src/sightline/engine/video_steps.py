"""What happens to a video frame's prediction after the model: tracking, then the annotated video."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from sightline.engine.status import SessionStatus
from sightline.errors import InvalidSettingError
from sightline.inputs.items import InputItem
from sightline.prediction import Prediction, as_sent
from sightline.settings import shown
from sightline.video.encode import AnnotatedVideoWriter
from sightline.video.tracking import VideoTracker, validate_tracking_config

log = logging.getLogger("sightline.engine")


def parse_video_kwargs(extra: Mapping[str, Any]) -> dict[str, Any]:
    tracking = extra.get("tracking", False)
    if not isinstance(tracking, bool):
        raise InvalidSettingError(f"tracking must be True or False, got {shown(tracking)}")
    if extra.get("tracking_config") is not None and not tracking:
        raise InvalidSettingError("tracking_config only applies with tracking=True")
    config = validate_tracking_config(_tracking_config(extra.get("tracking_config"))) if tracking else None
    out = extra.get("annotated_video", False)
    if not isinstance(out, (bool, str, Path)):
        raise InvalidSettingError(f"annotated_video must be True, False or a file path, got {shown(out)}")
    traces = extra.get("traces", False)
    if not isinstance(traces, bool):
        raise InvalidSettingError(f"traces must be True or False, got {shown(traces)}")
    return {"tracking_config": config, "annotated_video": out, "traces": traces}


def _tracking_config(config: Any) -> Any:
    """Types a client can get wrong over JSON, checked before the tracker's own settings are."""
    if not isinstance(config, Mapping):
        return config  # validate_tracking_config says what it must be
    tracker = config.get("tracker", "bytetrack")
    if not isinstance(tracker, str):
        raise InvalidSettingError(f"tracking_config tracker must be a tracker name (a string), got {shown(tracker)}")
    for key, value in config.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidSettingError(f"tracker setting {key!r} must be a finite number, got {shown(value)}")
    return config


class VideoSteps:
    """Per video: a tracker (when tracking) and an annotated-video writer (when asked for)."""

    def __init__(
        self, tracking_config: dict[str, Any] | None, annotated_video: bool | str | Path, traces: bool, stride: int = 1, folder: Path | None = None
    ) -> None:
        self.folder = folder  # where annotated videos go when no path is given
        self.tracking_config = tracking_config
        self.annotated_video = annotated_video
        self.traces = traces
        self.stride = stride
        self._trackers: dict[str, VideoTracker] = {}
        self._writers: dict[str, AnnotatedVideoWriter] = {}
        self.outputs: dict[str, Path] = {}  # source video -> annotated video

    @property
    def active(self) -> bool:
        return self.tracking_config is not None or bool(self.annotated_video)

    def __call__(self, pred: Prediction, item: InputItem) -> None:
        # the tracker is given what the stored result will hold (rounded boxes and scores), so that a resumed
        # run, replaying stored results, brings its tracker to exactly this state
        self._step(pred, item, None if pred.error is not None else as_sent(pred.detections))

    def replay(self, stored: Prediction, item: InputItem) -> None:
        """A frame finished before the run was interrupted, met again when it resumes: its stored result goes
        through the tracker and into the annotated video instead of a new prediction, so the tracks go on with
        the ids they had and the video covers the whole run. ``stored.detections`` is read back from JSON: it
        is the tracker's input as it was then, and its track ids are set again (to the same values)."""
        if stored.error is None:
            before = stored.track_ids
            d = stored.detections
            self._step(stored, item, sv.Detections(xyxy=d.xyxy.copy(), confidence=d.confidence, class_id=d.class_id))
            if before is not None and stored.track_ids is not None and not np.array_equal(before, stored.track_ids):
                log.warning("frame %s: replayed track ids %s differ from the stored %s", stored.frame_idx, stored.track_ids, before)

    def _step(self, pred: Prediction, item: InputItem, tracker_input: sv.Detections | None) -> None:
        path = item.video_file  # the file on this machine (a client's own path is only metadata)
        if path is None or pred.error is not None or item.image is None or tracker_input is None:
            return
        fps = item.fps or 25.0
        if self.tracking_config is not None:
            tracker = self._trackers.get(path)
            if tracker is None:
                tracker = self._trackers[path] = VideoTracker(self.tracking_config, fps / self.stride)
            tracker_input.tracker_id = None
            pred.detections.tracker_id = tracker.update(tracker_input, item.image, (pred.timestamp_us or 0) / 1e6).tracker_id
        if self.annotated_video:
            writer = self._writers.get(path)
            if writer is None:
                target = self._target(pred.source or path)
                writer = self._writers[path] = AnnotatedVideoWriter(target, fps / self.stride, traces=self.traces, audio_from=path)
                self.outputs[pred.video_path or path] = target
            writer.write(item.image, pred)

    def _target(self, source: str) -> Path:
        if isinstance(self.annotated_video, (str, Path)) and not self._writers:
            return Path(self.annotated_video)
        if isinstance(self.annotated_video, (str, Path)):
            folder = Path(self.annotated_video).parent
        else:
            folder = self.folder or Path(tempfile.mkdtemp(prefix="sightline-video-"))
        return folder / f"{Path(source).stem}_annotated_{len(self._writers)}.mp4"

    def finish(self, status: SessionStatus) -> None:
        for writer in self._writers.values():
            writer.close()
