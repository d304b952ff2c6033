"""Damaged video files: every sampled frame is one item, failed frames say which and why, the rest are predicted."""

from __future__ import annotations

import random
from pathlib import Path

import av
import pytest

import sightline

FRAMES = 72  # the bundled sample video


def _random_middle(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    noise = random.Random(11)
    data[mid : mid + 4096] = bytes(noise.getrandbits(8) for _ in range(4096))
    dst.write_bytes(bytes(data))
    return dst


def _zeroed_middle(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid - 10240 : mid + 10240] = bytes(20480)
    dst.write_bytes(bytes(data))
    return dst


def _truncated(src: Path, dst: Path) -> Path:
    """The same packets with the index up front (as a streaming recorder writes it), then cut at 60%."""
    whole = dst.with_name("faststart.mp4")
    with av.open(str(src)) as inp, av.open(str(whole), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = whole.read_bytes()
    dst.write_bytes(data[: int(len(data) * 0.6)])
    return dst


def _keyframed_then_zeroed(src: Path, dst: Path) -> Path:
    """The sample re-encoded with a keyframe every 12 frames (the sample has only one), then zeroed."""
    whole = dst.with_name("keyframed.mp4")
    with av.open(str(src)) as inp, av.open(str(whole), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.pix_fmt, stream.width, stream.height = "yuv420p", 480, 360
        stream.options = {"g": "12", "keyint_min": "12", "sc_threshold": "0"}
        for frame in inp.decode(video=0):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return _zeroed_middle(whole, dst)


DAMAGE = {
    "random_4k_at_midpoint": _random_middle,
    "zeroed_20k_at_midpoint": _zeroed_middle,
    "truncated_at_60pct": _truncated,
    "keyframe_every_12_zeroed_20k": _keyframed_then_zeroed,
}


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request, sample_video, tmp_path) -> Path:
    return DAMAGE[request.param](sample_video, tmp_path / f"{request.param}.mp4")


def _decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _check(session, preds, expected_idx, out: Path) -> None:
    status = session.status()
    assert status.state is sightline.SessionState.COMPLETED
    assert status.total == len(expected_idx) == status.done == len(preds)  # the total is the sampled frames, kept
    assert [p.frame_idx for p in preds] == expected_idx  # one item per sampled frame, in order
    failed = [p for p in preds if not p.ok]
    good = [p for p in preds if p.ok]
    assert failed and good, "the damage should cost some frames, not all"
    assert status.failed == len(failed)
    for p in failed:
        assert f"frame {p.frame_idx} could not be decoded: " in p.error, p.error
    # what was predicted is no ghost concealed from a damaged picture (those showed 7 to 11 shapes)
    assert all(p.video_path and p.timestamp_us is not None for p in good)
    assert all(len(p) <= 3 for p in good), [(p.frame_idx, p.classes) for p in good]
    assert session.annotated_video() == out
    assert _decoded_frames(out) == len(good)  # the annotated video covers the frames that decoded


def test_damaged_video_in_the_sdk(demo_model, damaged, tmp_path):
    out = tmp_path / "annotated.mp4"
    session = demo_model.predict_detached(input=damaged, annotated_video=out)
    _check(session, list(session), list(range(FRAMES)), out)


def test_decoding_resumes_at_the_next_keyframe(demo_model, sample_video, tmp_path):
    path = _keyframed_then_zeroed(sample_video, tmp_path / "keyframed_zeroed.mp4")
    preds = demo_model.predict(input=path)
    failed = [p.frame_idx for p in preds if not p.ok]
    assert failed and failed == list(range(failed[0], failed[-1] + 1))  # one damaged stretch...
    assert failed[-1] < FRAMES - 1 and (failed[-1] + 1) % 12 == 0  # ...that ends at a keyframe, where decoding resumed
    damaged = {p.frame_idx for p in preds if not p.ok and "follows damaged frame" not in p.error}
    assert damaged, "the frame the decoder failed on is named as such"
    after = [p.error for p in preds if not p.ok and p.frame_idx not in damaged]
    assert all(any(f"follows damaged frame {d} in decoding order" in e for d in damaged) for e in after), after
    assert all(sorted(p.classes) == ["circle", "square", "triangle"] for p in preds if p.ok)  # sound pictures only


def test_damaged_video_with_stride_counts_sampled_frames(demo_model, sample_video, tmp_path):
    path = _random_middle(sample_video, tmp_path / "random.mp4")
    out = tmp_path / "annotated.mp4"
    session = demo_model.predict_detached(input=path, stride=2, annotated_video=out)
    _check(session, list(session), list(range(0, FRAMES, 2)), out)


def test_damaged_video_over_the_server(start_server, damaged, tmp_path):
    live = start_server()
    out = tmp_path / "annotated.mp4"
    with sightline.connect(live.url) as remote:
        session = remote.predict_detached(input=damaged, annotated_video=out)
        preds = list(session)
        _check(session, preds, list(range(FRAMES)), out)


class _DemuxerFailsOnce:
    """A container whose demuxer raises once, on frame 30's packet, as a broken container structure would.

    (MP4, MKV and MPEG-TS demuxers resynchronised by themselves on every damaged copy tried, so the
    failure is simulated around the real container.)"""

    def __init__(self, inner, at_pts: int) -> None:
        self.inner, self.at_pts, self.failed = inner, at_pts, False
        self.name, self.streams = inner.name, inner.streams

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.inner.close()

    def seek(self, *args, **kwargs) -> None:
        self.inner.seek(*args, **kwargs)

    def demux(self, stream):
        for packet in self.inner.demux(stream):
            if packet.pts == self.at_pts and not self.failed:
                self.failed = True
                raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
            yield packet


def test_a_demuxer_failure_seeks_to_the_next_keyframe(demo_model, sample_video, tmp_path, monkeypatch):
    from sightline.video import decode

    path = tmp_path / "keyframed.mp4"
    _keyframed_then_zeroed(sample_video, tmp_path / "unused.mp4")  # writes keyframed.mp4 undamaged first
    opened = decode._open

    def flaky(p):
        container, stream = opened(p)
        at = round(30 / (stream.average_rate * stream.time_base)) + (stream.start_time or 0)
        return _DemuxerFailsOnce(container, at), stream

    monkeypatch.setattr(decode, "_open", flaky)
    preds = demo_model.predict(input=path)
    assert [p.frame_idx for p in preds] == list(range(FRAMES))
    good = [p.frame_idx for p in preds if p.ok]
    failed = [p for p in preds if not p.ok]
    assert failed and max(good) == FRAMES - 1 and 36 in good  # read on from the keyframe after the failure
    assert all(p.frame_idx < 36 for p in failed)
    assert any("could not be read here" in p.error and "resumed at the next keyframe" in p.error for p in failed), [p.error for p in failed]
    assert all(sorted(p.classes) == ["circle", "square", "triangle"] for p in preds if p.ok)
