"""Per-object timelines of a tracked video: when each object was visible, frame by frame."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sightline.prediction import Prediction


@dataclass
class Observation:
    frame_idx: int
    timestamp_us: int
    box: list[float]
    score: float


@dataclass
class TrackedObject:
    track_id: int
    class_name: str  # the class it was seen as most often
    ranges_us: list[tuple[int, int]]  # (first, last) timestamps of each run of consecutive sampled frames it was seen in
    observations: list[Observation | None]  # one per sampled frame from its first to its last; None on a gap frame


@dataclass
class VideoTimeline:
    frame_timestamps_us: list[int]  # every processed frame, sorted
    objects: list[TrackedObject] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_timeline(predictions: Iterable[Prediction]) -> VideoTimeline:
    """The timeline of one video's tracked predictions (frames without a track id are ignored)."""
    frames = sorted((p for p in predictions if p.ok and p.timestamp_us is not None), key=lambda p: p.frame_idx or 0)
    timestamps = [t for p in frames if (t := p.timestamp_us) is not None]  # all of them: frames were picked so
    seen: dict[int, dict[int, Observation]] = {}
    classes: dict[int, Counter[str]] = {}
    for k, p in enumerate(frames):
        if p.track_ids is None:
            continue
        for i, tid in enumerate(p.track_ids):
            if tid < 0:
                continue
            tid = int(tid)
            seen.setdefault(tid, {})[k] = Observation(int(p.frame_idx or 0), int(p.timestamp_us or 0), [float(v) for v in p.boxes[i]], float(p.scores[i]))
            classes.setdefault(tid, Counter())[p.classes[i]] += 1
    objects = []
    for tid in sorted(seen):
        at = seen[tid]
        first, last = min(at), max(at)
        observations = [at.get(k) for k in range(first, last + 1)]
        ranges: list[tuple[int, int]] = []
        for k in range(first, last + 1):
            if k in at:
                if ranges and k - 1 in at:
                    ranges[-1] = (ranges[-1][0], timestamps[k])
                else:
                    ranges.append((timestamps[k], timestamps[k]))
        objects.append(TrackedObject(tid, classes[tid].most_common(1)[0][0], ranges, observations))
    return VideoTimeline(timestamps, objects)


def timeline_from_dict(d: dict[str, Any]) -> VideoTimeline:
    objects = [
        TrackedObject(
            o["track_id"], o["class_name"], [(int(a), int(b)) for a, b in o["ranges_us"]],
            [None if x is None else Observation(**x) for x in o["observations"]],
        )
        for o in d["objects"]
    ]
    return VideoTimeline(d["frame_timestamps_us"], objects)
