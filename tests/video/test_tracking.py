"""Tracking across the sample video, tracker settings validation, timelines, annotated H.264 output."""

from __future__ import annotations

import av
import numpy as np
import pytest
import supervision as sv

import sightline
from sightline.prediction import Prediction
from sightline.video.timeline import build_timeline


def test_track_identity_is_kept_for_the_moving_shapes(demo_model, sample_video):
    preds = demo_model.predict(input=sample_video, tracking=True)
    assert all(p.track_ids is not None and len(p.track_ids) == len(p) for p in preds)
    # after the tracks are confirmed, each shape keeps one id for the rest of the clip
    ids_by_class: dict[str, set[int]] = {}
    for p in preds[6:]:
        for cls, tid in zip(p.classes, p.track_ids):
            if tid >= 0:
                ids_by_class.setdefault(cls, set()).add(int(tid))
    assert set(ids_by_class) == {"circle", "square", "triangle"}
    assert all(len(ids) == 1 for ids in ids_by_class.values()), ids_by_class
    timeline = build_timeline(preds)
    assert len(timeline.objects) == 3 and timeline.frame_timestamps_us == [p.timestamp_us for p in preds]


@pytest.mark.parametrize("tracker", ["bytetrack", "sort", "ocsort", "botsort"])
def test_every_tracker_runs(demo_model, sample_video, tracker):
    preds = demo_model.predict(input=sample_video, num_frames=12, tracking=True, tracking_config={"tracker": tracker, "minimum_consecutive_frames": 1})
    assert any((p.track_ids >= 0).any() for p in preds)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"tracking": True, "tracking_config": {"tracker": "deepsort"}}, "tracker 'deepsort' is unknown"),
        ({"tracking": True, "tracking_config": {"lost_buffer": 3}}, "has no setting 'lost_buffer'"),
        ({"tracking": True, "tracking_config": {"lost_track_buffer": "long"}}, "must be like 30"),
        ({"tracking_config": {"tracker": "sort"}}, "only applies with tracking=True"),
        ({"tracking": "yes"}, "tracking must be True or False"),
    ],
)
def test_bad_tracking_settings_are_clear_errors(demo_model, sample_video, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        demo_model.predict(input=sample_video, **kwargs)


def _pred(frame, ts, ids, boxes, classes):
    d = sv.Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.full(len(ids), 0.9, np.float32),
        class_id=np.zeros(len(ids), int),
        tracker_id=np.asarray(ids, int),
        data={"class_name": np.asarray(classes, dtype=object)},
    )
    return Prediction(detections=d, image_size=(10, 10), frame_idx=frame, timestamp_us=ts)


def test_timeline_gaps_and_ranges():
    preds = [
        _pred(0, 0, [7], [[0, 0, 1, 1]], ["circle"]),
        _pred(2, 200, [7, 8], [[1, 1, 2, 2], [5, 5, 6, 6]], ["circle", "square"]),
        _pred(4, 400, [8], [[5, 5, 6, 6]], ["square"]),  # 7 not seen: a gap
        _pred(6, 600, [7, -1], [[2, 2, 3, 3], [0, 0, 9, 9]], ["circle", "square"]),  # -1: unconfirmed, ignored
    ]
    t = build_timeline(preds)
    assert t.frame_timestamps_us == [0, 200, 400, 600]
    seven, eight = t.objects
    assert (seven.track_id, seven.class_name, seven.ranges_us) == (7, "circle", [(0, 200), (600, 600)])
    assert [o.frame_idx if o else None for o in seven.observations] == [0, 2, None, 6]
    assert (eight.ranges_us, len(eight.observations)) == ([(200, 400)], 2)


def test_annotated_video_is_h264_with_every_sampled_frame(demo_model, sample_video, tmp_path):
    out = tmp_path / "annotated.mp4"
    session = demo_model.predict_detached(input=sample_video, stride=3, tracking=True, annotated_video=out, traces=True)
    preds = list(session)
    assert session.annotated_video() == out
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == pytest.approx(24 / 3)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == len(preds) == 24
    # the drawing is on the frames: the box edge of the first object carries its class colour
    p = preds[5]
    x0, y0, x1, y1 = p.boxes[0].astype(int)
    edge = frames[5][(y0 + y1) // 2, max(0, x0 - 1) : x0 + 2].astype(int)
    from sightline.drawing import class_color

    colour = np.array([int(class_color(p.class_ids[0])[i : i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(edge - colour).sum(axis=1).min() < 60


def test_annotated_video_needs_a_video(demo_model, samples):
    session = demo_model.predict_detached(input=samples[0].image, annotated_video=True)
    list(session)
    with pytest.raises(sightline.NotFoundError, match="no annotated video"):
        session.annotated_video()


def _video_with_sound(path, seconds=2.0, fps=12):
    from fractions import Fraction

    from sightline.models.demo.make_samples import moving_shapes_frames

    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(fps))
        v.pix_fmt, v.height, v.width = "yuv420p", 240, 320
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        t = np.arange(int(44100 * seconds)) / 44100
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(tone) - 1024, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, k
            for p in a.encode(frame):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
        for im in moving_shapes_frames(frames=int(seconds * fps), size=(240, 320)):
            for p in v.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)


def test_annotated_video_keeps_the_sound(demo_model, tmp_path):
    source = tmp_path / "with_sound.mp4"
    _video_with_sound(source)
    out = tmp_path / "annotated.mp4"
    session = demo_model.predict_detached(input=source, annotated_video=out)
    list(session)
    session.annotated_video()
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert len(c.streams.audio) == 1 and c.streams.audio[0].codec_context.name == "aac"
        samples = sum(f.samples for f in c.decode(audio=0))
    assert samples > 44100 * 1.5  # about the clip's two seconds of sound came along


@pytest.mark.parametrize("tracker", ["bytetrack", "sort", "ocsort", "botsort"])
def test_first_sampled_frame_gets_track_ids_when_one_frame_confirms(demo_model, sample_video, tracker):
    config = {"tracker": tracker, "minimum_consecutive_frames": 1}
    preds = demo_model.predict(input=sample_video, num_frames=6, tracking=True, tracking_config=config)
    first = preds[0]
    assert len(first) == 3 and (first.track_ids >= 0).all(), first.track_ids
    # the ids born on the first frame are the ones the objects keep
    assert set(first.track_ids.tolist()) == set(preds[1].track_ids.tolist())
    timeline = build_timeline(preds)
    assert len(timeline.objects) == 3 and all(o.ranges_us[0][0] == first.timestamp_us for o in timeline.objects)
