"""What happens to a video frame's prediction after the model: tracking, then the annotated video."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from sightline.engine.status import SessionStatus
from sightline.errors import NotFoundError
from sightline.inputs.items import InputItem
from sightline.prediction import Prediction, as_sent
from sightline.request import Tracking
from sightline.video.encode import AnnotatedVideoWriter
from sightline.video.tracking import VideoTracker, validate_tracking_config

log = logging.getLogger("sightline.engine")


def video_args(request: Tracking) -> dict[str, Any]:
    """``VideoSteps``' arguments from a request (a live stream's has tracking only); the tracker's own settings
    are checked here, where the ``trackers`` package is at hand."""
    config = validate_tracking_config(request.tracking_config) if request.tracking else None
    return {"tracking_config": config, "annotated_video": getattr(request, "annotated_video", False), "traces": getattr(request, "traces", False)}


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
        self._by_source: dict[str, Path] = {}  # the predictions' ``source`` -> annotated video

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
                self._by_source.setdefault(pred.source or path, target)
            writer.write(item.image, pred)

    def output(self, source: str | None = None) -> Path:
        """The annotated video of ``source`` (a prediction's ``source`` or its video's path), by default the first."""
        if not self.outputs:
            raise NotFoundError("this session made no annotated video (ask for one with annotated_video and a video input)")
        if source is None:
            return next(iter(self.outputs.values()))
        found = self._by_source.get(source) or self.outputs.get(source)
        if found is None:
            raise NotFoundError(f"no annotated video of {source!r}; this session made one of {', '.join(map(repr, self._by_source))}")
        return found

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
