"""Object tracking across video frames with the ``trackers`` package (ByteTrack, SORT, OC-SORT, BoT-SORT)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import supervision as sv
import trackers

from sightline.errors import InvalidSettingError

TRACKERS: dict[str, type] = {
    "bytetrack": trackers.ByteTrackTracker,
    "sort": trackers.SORTTracker,
    "ocsort": trackers.OCSORTTracker,
    "botsort": trackers.BoTSORTTracker,
}
# settings that are objects, not values a user can pass as JSON
_INTERNAL = {"self", "state_estimator_class", "iou"}


def tracker_settings(name: str) -> dict[str, Any]:
    """The settings a tracker accepts, with their defaults."""
    params = inspect.signature(TRACKERS[name].__init__).parameters
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
        probe = detections[np.arange(n)]
        probe.data["_row"] = np.arange(n)
        uses_frame = isinstance(self._tracker, trackers.BoTSORTTracker)  # camera-motion compensation reads pixels
        tracked = self._tracker.update(probe, frame=frame) if uses_frame and frame is not None else self._tracker.update(probe)
        ids = np.full(n, -1, dtype=np.int64)
        rows = tracked.data.get("_row")
        if rows is not None and tracked.tracker_id is not None:
            ids[np.asarray(rows, dtype=np.int64)] = tracked.tracker_id
        detections.tracker_id = ids
        return detections
