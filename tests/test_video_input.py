"""Video files as input: sampling arguments, source frame indices and timestamps, clear range errors."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

import sightline
from sightline.models.demo.make_samples import moving_shapes_frames

FRAMES, FPS = 72, 24  # the bundled sample video


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, list(range(72))),
        ({"stride": 5}, list(range(0, 72, 5))),
        ({"start_frame": 10, "stride": 7}, list(range(10, 72, 7))),
        ({"start_frame": 20, "end_frame": 30}, list(range(20, 30))),
        ({"start_frame": 5, "num_frames": 9, "stride": 4}, [5, 9, 13]),
        ({"start_frame": 48, "duration": 0.5}, list(range(48, 60))),
        ({"end_frame": 72, "stride": 71}, [0, 71]),
    ],
)
def test_sampling_gives_source_frame_indices_and_timestamps(demo_model, sample_video, kwargs, expected):
    session = demo_model.predict_detached(input=sample_video, conf=0.5, **kwargs)
    assert len(session) == len(expected)
    preds = list(session)
    assert [p.frame_idx for p in preds] == expected
    assert [p.timestamp_us for p in preds] == [round(i * 1_000_000 / FPS) for i in expected]
    assert all(p.video_path == str(sample_video) and p.image_size == (360, 480) for p in preds)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"start_frame": 72}, "start_frame=72 is past the end"),
        ({"end_frame": 73}, "end_frame=73 is past the end"),
        ({"start_frame": 10, "end_frame": 10}, "must be greater than start_frame"),
        ({"start_frame": 70, "num_frames": 5}, "at most 2 from there"),
        ({"duration": 3.5}, "duration=3.5 s"),
    ],
)
def test_out_of_range_is_a_clear_error(demo_model, sample_video, kwargs, needle):
    with pytest.raises(sightline.InputError, match=needle):
        demo_model.predict(input=sample_video, **kwargs)


def test_video_predictions_find_the_moving_shapes(demo_model, sample_video):
    preds = demo_model.predict(input=sample_video, stride=12)
    for p in preds:
        assert sorted(p.classes) == ["circle", "square", "triangle"], (p.frame_idx, p.classes)


def _write_video(path, frames, fps=10, rates=None):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.height, stream.width = 240, 320
        if rates is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if rates is not None:
                vf.pts, vf.time_base = pts, Fraction(1, 1000)
                pts += rates[i % len(rates)]
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_variable_frame_rate_timestamps_come_from_the_stream(demo_model, tmp_path):
    frames = list(moving_shapes_frames(frames=12, size=(240, 320)))
    path = tmp_path / "vfr.mp4"
    _write_video(path, frames, rates=[40, 120])  # frames 40 ms then 120 ms apart
    preds = demo_model.predict(input=path)
    assert [p.frame_idx for p in preds] == list(range(12))
    gaps = np.diff([p.timestamp_us for p in preds])
    assert set(np.round(gaps / 1000).astype(int).tolist()) == {40, 120}


def test_video_with_no_frames_is_a_clear_error(demo_model, tmp_path):
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.height, stream.width, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()  # a valid file with a header and not a single frame
    with pytest.raises(sightline.InputError, match="has no video stream|has no frames"):
        demo_model.predict(input=path)


def test_corrupt_video_is_a_clear_error(demo_model, tmp_path, sample_video):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(sightline.InputError, match="could not be read as a video"):
        demo_model.predict(input=path)
    # inside a list, the corrupt video fails as one item and the rest still runs
    preds = demo_model.predict(input=[path, sample_video], num_frames=2)
    assert preds[0].error and "could not be read as a video" in preds[0].error
    assert [p.frame_idx for p in preds[1:]] == [0, 1]


def test_truncated_video_keeps_frames_before_the_break(demo_model, tmp_path):
    full = tmp_path / "full.ts"  # MPEG-TS stays readable when cut short, as a recording cut off mid-write would be
    _write_video(full, list(moving_shapes_frames(frames=40, size=(240, 320))))
    data = full.read_bytes()
    path = tmp_path / "truncated.ts"
    path.write_bytes(data[: int(len(data) * 0.6)])
    session = demo_model.predict_detached(input=path)
    preds = list(session)
    good = [p for p in preds if p.ok]
    assert 10 < len(good) < 40
    assert [p.frame_idx for p in good] == list(range(len(good)))
    status = session.status()
    assert status.state is sightline.SessionState.COMPLETED and status.done == len(preds) == status.total
    assert all(p.error and "decoded" in p.error for p in preds if not p.ok)
