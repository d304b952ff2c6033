"""What happens to a video frame's prediction after the model: tracking, then the annotated video."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sightline.engine.status import SessionStatus
from sightline.errors import NotFoundError
from sightline.inputs.items import InputItem
from sightline.prediction import Prediction
from sightline.request import Tracking
from sightline.video.encode import AnnotatedVideoWriter
from sightline.video.tracking import VideoTracker, validate_tracking_config


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
        path = item.video_file  # the file on this machine (a client's own path is only metadata)
        if path is None or pred.error is not None or item.image is None:
            return
        fps = item.fps or 25.0
        if self.tracking_config is not None:
            tracker = self._trackers.get(path)
            if tracker is None:
                tracker = self._trackers[path] = VideoTracker(self.tracking_config, fps / self.stride)
            tracker.update(pred.detections, item.image, (pred.timestamp_us or 0) / 1e6)
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
