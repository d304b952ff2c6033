"""Live frames: the newest frame wins, drops are counted, fps and latency are measured."""

from __future__ import annotations

import numpy as np

from sightline.engine.live import LiveStream
from sightline.prediction import Prediction


def test_live_stream_predicts_frames(demo_model, samples):
    with demo_model.live(conf=0.5) as live:
        assert live.push(samples[0].image) is None  # nothing finished yet
        pred = live.wait_for(0)
        assert pred is not None and pred.frame_idx == 0 and len(pred) > 0 and pred.image_size == (360, 480)
        for s in samples[1:]:
            live.push(s.image)
        last = live.wait_for(5)
        stats = live.stats()
    assert last.frame_idx == 5
    assert stats.received == 6 and stats.processed + stats.dropped == 6 and stats.latency_ms > 0


def test_newest_frame_wins_and_drops_are_counted(demo_model):
    import threading

    import supervision as sv

    started = threading.Event()
    release = threading.Event()

    def slow(image: np.ndarray) -> Prediction:
        started.set()
        release.wait(10)
        return Prediction(detections=sv.Detections.empty(), image_size=image.shape[:2])

    with LiveStream(slow) as live:
        live.push(np.full((8, 8, 3), 0, np.uint8))
        assert started.wait(10)  # frame 0 is being predicted...
        for i in range(1, 10):  # ...while nine more arrive
            live.push(np.full((8, 8, 3), i, np.uint8))
        release.set()
        last = live.wait_for(9)
        stats = live.stats()
    assert last.frame_idx == 9 and last.image[0, 0, 0] == 9  # the newest frame was predicted
    assert stats.processed == 2 and stats.dropped == 8  # the first, then the newest; the rest dropped


def test_live_tracking_gives_track_ids(demo_model, sample_video):
    from sightline.video.decode import decode_frames

    with demo_model.live(tracking=True, tracking_config={"minimum_consecutive_frames": 1}) as live:
        for f in decode_frames(str(sample_video), range(0, 24)):
            live.push(f.image)
            live.wait_for(f.index)
        pred = live.latest()
    assert pred.track_ids is not None and (pred.track_ids >= 0).any()
