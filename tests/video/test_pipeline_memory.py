"""The video pipeline holds a bounded number of frames, however long the video."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import av
import numpy as np
import supervision as sv

import sightline
from sightline.models.base import Model, Task


class InstantModel(Model):
    """Finds nothing, instantly: isolates the pipeline's own memory from a model's."""

    name, classes, task, default_settings, input_size, device, framework = "instant", ["thing"], Task.DETECTION, {}, None, "cpu", "test"

    def predict_batch(self, images, settings):
        return [sv.Detections.empty() for _ in images]


def _long_video(path, frames=1500, size=(240, 320)):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(30))
        s.pix_fmt, s.height, s.width = "yuv420p", size[0], size[1]
        s.options = {"preset": "ultrafast"}
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (size[0], size[1], 3), dtype=np.uint8)
        for i in range(frames):
            frame = np.roll(base, i, axis=1)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_memory_stays_bounded_on_a_long_video(tmp_path):
    video = tmp_path / "long.mp4"
    _long_video(video)
    model = sightline.LocalModel(InstantModel())
    frame_bytes = 240 * 320 * 3
    tracemalloc.start()
    session = model.predict_detached(input=video, batch_size=8, annotated_video=tmp_path / "out.mp4")
    count = sum(1 for _ in session)
    session.annotated_video()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 1500
    # all 1,500 frames held at once would be ~345 MB; the bounded queues keep a few dozen at most
    assert peak < 60 * frame_bytes, f"peak {peak / 1e6:.0f} MB"
