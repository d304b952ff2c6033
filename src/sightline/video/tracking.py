"""Object tracking across video frames with the ``trackers`` package (ByteTrack, SORT, OC-SORT, BoT-SORT)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import supervision as sv
import trackers
from trackers.core.base import BaseTracker

from sightline.detections import subset
from sightline.errors import InvalidSettingError

# With ``minimum_consecutive_frames=1`` one sighting confirms a track, so a track should have its id on the
# frame it is born. trackers 2.6.1 gives ids only when a track is matched again (ByteTrack, SORT, OC-SORT;
# BoT-SORT activates its first frame itself), so every object's first frame, and so every video's first
# sampled frame, read -1 and timelines started a frame late. These subclasses hook each tracker's own
# spawn step and give a born track its id when one frame is enough; with a higher minimum nothing changes.


class _ByteTrack(trackers.ByteTrackTracker):
    def _spawn_new_tracks(
        self,
        detection_boxes: np.ndarray,
        confidences: np.ndarray,
        unmatched_high_local: list[int],
        high_indices: np.ndarray,
        out_det_indices: list[int],
        out_tracker_ids: list[int],
    ) -> None:
        first_row, first_track = len(out_tracker_ids), len(self.tracks)
        super()._spawn_new_tracks(detection_boxes, confidences, unmatched_high_local, high_indices, out_det_indices, out_tracker_ids)
        if self.minimum_consecutive_frames > 1:
            return
        born = iter(self.tracks[first_track:])  # one per row whose confidence cleared the activation threshold, in order
        for row in range(first_row, len(out_tracker_ids)):
            if float(confidences[out_det_indices[row]]) >= self.track_activation_threshold:
                track = next(born)
                track.tracker_id = out_tracker_ids[row] = self._allocate_tracker_id()


class _Tracker(Protocol):
    """What ``_BornTracks`` needs of the tracker it is mixed into."""

    minimum_consecutive_frames: int
    tracks: list[Any]
    _born: list[tuple[int, Any]]

    def _allocate_tracker_id(self) -> int: ...


class _BornTracks:
    """For trackers whose spawn step does not write the output: note born tracks, give their rows ids after."""

    _born: list[tuple[int, Any]]  # (input row, track) of the tracks born on this frame

    def _note_born(self: _Tracker, rows: list[int], first_track: int) -> None:
        if self.minimum_consecutive_frames <= 1:
            self._born.extend(zip(rows, self.tracks[first_track:], strict=True))

    def _confirm_born(self: _Tracker, detections: sv.Detections, result: sv.Detections) -> sv.Detections:
        for row, track in self._born:
            if track.tracker_id == -1:
                track.tracker_id = self._allocate_tracker_id()
            if result.tracker_id is None:
                continue
            at = np.flatnonzero((result.tracker_id == -1) & (result.xyxy == detections.xyxy[row]).all(axis=1))
            if len(at):
                result.tracker_id[at[0]] = track.tracker_id
        return result


class _SORT(_BornTracks, trackers.SORTTracker):
    def update(self, detections: sv.Detections, frame: np.ndarray | None = None, timestamp: float | None = None) -> sv.Detections:
        self._born = []
        return self._confirm_born(detections, super().update(detections, frame, timestamp))

    def _spawn_new_tracklets(self, confidences: np.ndarray, detection_boxes: np.ndarray, unmatched_detections: list[int]) -> None:
        first_track = len(self.tracks)
        super()._spawn_new_tracklets(confidences, detection_boxes, unmatched_detections)
        self._note_born([i for i in unmatched_detections if confidences[i] >= self.track_activation_threshold], first_track)


class _OCSORT(_BornTracks, trackers.OCSORTTracker):
    def update(self, detections: sv.Detections, frame: np.ndarray | None = None, timestamp: float | None = None) -> sv.Detections:
        self._born = []
        self._boxes = detections.xyxy
        return self._confirm_born(detections, super().update(detections, frame, timestamp))

    def _spawn_new_tracklets(self, boxes: np.ndarray) -> None:
        first_track = len(self.tracks)
        super()._spawn_new_tracklets(boxes)
        taken: set[int] = set()  # it is handed boxes only: find their rows (exact copies of the input boxes)
        rows: list[int] = []
        for box in boxes:
            row = next(int(i) for i in np.flatnonzero((self._boxes == box).all(axis=1)) if int(i) not in taken)
            taken.add(row)
            rows.append(row)
        self._note_born(rows, first_track)


TRACKERS: dict[str, type[BaseTracker]] = {
    "bytetrack": _ByteTrack,
    "sort": _SORT,
    "ocsort": _OCSORT,
    "botsort": trackers.BoTSORTTracker,
}
# settings that are objects, not values a user can pass as JSON
_INTERNAL = {"self", "state_estimator_class", "iou"}


def tracker_settings(name: str) -> dict[str, Any]:
    """The settings a tracker accepts, with their defaults."""
    params = inspect.signature(TRACKERS[name]).parameters
    return {k: p.default for k, p in params.items() if k not in _INTERNAL}


def validate_tracking_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check ``tracking_config`` now, so a typo fails the call rather than the run."""
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise InvalidSettingError(f"tracking_config must be a dict, got {config!r}")
    config = dict(config)
    name = config.pop("tracker", "bytetrack")
    if name not in TRACKERS:
        raise InvalidSettingError(f"tracker {name!r} is unknown; choose one of {', '.join(TRACKERS)}")
    accepted = tracker_settings(name)
    for key, value in config.items():
        if key not in accepted:
            raise InvalidSettingError(f"tracker {name!r} has no setting {key!r}; it accepts {', '.join(sorted(accepted))}")
        default = accepted[key]
        if isinstance(default, bool) != isinstance(value, bool) or (
            isinstance(default, (int, float)) and not isinstance(default, bool) and not isinstance(value, (int, float))
        ):
            raise InvalidSettingError(f"tracker setting {key!r} must be like {default!r}, got {value!r}")
    return {"tracker": name, **config}


class VideoTracker:
    """Assigns track ids to one video's detections, frame by frame, in order."""

    def __init__(self, config: Mapping[str, Any], fps: float) -> None:
        config = validate_tracking_config(config)
        name = config.pop("tracker")
        config.setdefault("frame_rate", fps)
        self._tracker = TRACKERS[name](**config)

    def update(self, detections: sv.Detections, frame: np.ndarray | None, timestamp_s: float | None) -> sv.Detections:
        """Tracked detections in the input order; objects not (yet) confirmed get track id -1."""
        n = len(detections)
        if n == 0:
            detections.tracker_id = np.zeros(0, dtype=np.int64)
            return detections
        # trackers may reorder or drop rows: carry each row's position through and map back
        probe = subset(detections, np.arange(n))
        probe.data["_row"] = np.arange(n)
        uses_frame = isinstance(self._tracker, trackers.BoTSORTTracker)  # camera-motion compensation reads pixels
        tracked = self._tracker.update(probe, frame=frame) if uses_frame and frame is not None else self._tracker.update(probe)
        ids = np.full(n, -1, dtype=np.int64)
        rows = tracked.data.get("_row")
        if rows is not None and tracked.tracker_id is not None:
            ids[np.asarray(rows, dtype=np.int64)] = tracked.tracker_id
        detections.tracker_id = ids
        return detections
