"""Reading frames far from a video's start seeks to the keyframe before them: the same pictures, with the same
indices and timestamps, as decoding from frame 0, without decoding the frames before that keyframe."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sightline.video.decode import DecodedFrame, DecodeStats, decode_frames, read_frame

SIZE = (96, 128)


def _write(
    path: Path, frames: int, options: dict[str, str], keyframes: set[int] | None = None, gaps_ms: list[int] | None = None
) -> Path:
    """A 30 fps H.264 clip whose every frame differs (noise rolled by the frame number); ``keyframes``, when
    given, are the frames forced to be keyframes (no others are made); ``gaps_ms``, when given, the times
    between frames, in turn (a variable frame rate)."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(30))
        stream.pix_fmt, stream.height, stream.width = "yuv420p", *SIZE
        stream.options = options
        if gaps_ms:
            stream.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 3 * k, axis=1), format="rgb24")
            if gaps_ms:
                frame.pts, frame.time_base = t, Fraction(1, 1000)
                t += gaps_ms[k % len(gaps_ms)]
            if keyframes is not None and k in keyframes:
                frame.pict_type = av.video.frame.PictureType.I
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _keyframe_indices(path: Path) -> list[int]:
    """The frame indices (ranks of presentation times) of the file's keyframes."""
    with av.open(str(path)) as container:
        packets = [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]
    times = sorted(t for t, _ in packets)
    return sorted(times.index(t) for t, key in packets if key)


# gop 30 with B-frames (pictures reordered: presentation and decoding order differ); an open GOP (frames shown
# before a keyframe that reference the group before it); keyframes at uneven places only; a variable frame rate
CLIPS = {
    "vfr": (
        300,
        {"preset": "veryfast", "g": "30", "keyint_min": "30", "sc_threshold": "0", "bf": "2"},
        None,
        [33, 33, 50, 17, 100, 33, 66],
    ),
    "gop30-bframes": (300, {"preset": "veryfast", "g": "30", "keyint_min": "30", "sc_threshold": "0", "bf": "2"}, None, None),
    "open-gop": (
        300,
        {"preset": "veryfast", "x264-params": "keyint=30:min-keyint=30:scenecut=0:open-gop=1:bframes=3"},
        None,
        None,
    ),
    "uneven": (
        240,
        {"preset": "veryfast", "g": "1000", "sc_threshold": "0", "forced-idr": "1", "bf": "2"},
        {0, 7, 8, 50, 131, 200, 233},
        None,
    ),
}


@pytest.fixture(scope="module", params=sorted(CLIPS))
def clip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DecodedFrame]]:
    """A clip and every frame of it decoded in order from frame 0."""
    frames, options, keyframes, gaps_ms = CLIPS[request.param]
    path = _write(tmp_path_factory.mktemp("seek") / f"{request.param}.mp4", frames, options, keyframes, gaps_ms)
    stats = DecodeStats()
    sequential = list(decode_frames(str(path), range(frames), stats))
    assert stats.started_at == 0 and all(isinstance(f, DecodedFrame) for f in sequential)
    assert [f.index for f in sequential] == list(range(frames))
    if gaps_ms:  # the times are the file's own, not frame numbers over a rate
        steps = {round((b.timestamp_us - a.timestamp_us) / 1000) for a, b in zip(sequential, sequential[1:])}
        assert steps == set(gaps_ms), steps
    return path, sequential  # type: ignore[return-value]


def test_the_clips_have_the_keyframes_the_tests_need(clip):
    path, sequential = clip
    keys = _keyframe_indices(path)
    if path.stem == "uneven":
        assert keys == sorted(CLIPS["uneven"][2])
    else:
        assert len(keys) >= 9 and keys[1] - keys[0] >= 25  # about every 30 frames


def test_a_frame_read_by_seeking_is_the_frame_read_in_order(clip):
    path, sequential = clip
    last = len(sequential) - 1
    keys = _keyframe_indices(path)
    wanted = {1, 29, 30, 31, last - 1, last}
    for k in keys[1:]:  # right after each keyframe, on it, and just before it (the end of the group before)
        wanted |= {k - 1, k, k + 1}
    for n in sorted(w for w in wanted if 0 <= w <= last):
        stats = DecodeStats()
        (got,) = decode_frames(str(path), range(n, n + 1), stats)
        assert isinstance(got, DecodedFrame) and got.index == n
        assert got.timestamp_us == sequential[n].timestamp_us, f"frame {n}: another time than in order"
        assert np.array_equal(got.image, sequential[n].image), f"frame {n} read by seeking is another picture"
        before = [k for k in keys if k <= n]
        assert stats.started_at <= n and stats.started_at >= (before[-2] if len(before) > 1 else 0), (
            f"frame {n}: decoding started at frame {stats.started_at}, keyframes {keys}"
        )
        assert np.array_equal(read_frame(str(path), n), sequential[n].image)


def test_a_page_of_frames_read_by_seeking_is_the_page_read_in_order(clip):
    path, sequential = clip
    last = len(sequential) - 1
    for frames in (range(last - 59, last + 1), range(95, 160, 4), range(131, 132)):
        got = list(decode_frames(str(path), frames))
        assert [f.index for f in got] == list(frames)
        for f in got:
            assert isinstance(f, DecodedFrame)
            assert f.timestamp_us == sequential[f.index].timestamp_us and np.array_equal(f.image, sequential[f.index].image)


def test_reading_a_frame_near_the_end_of_a_long_clip_does_not_decode_from_the_start(tmp_path):
    path = _write(tmp_path / "long.mp4", 1800, {"preset": "ultrafast", "g": "30", "keyint_min": "30", "sc_threshold": "0"})
    stats = DecodeStats()
    (frame,) = decode_frames(str(path), range(1795, 1796), stats)
    assert isinstance(frame, DecodedFrame) and frame.index == 1795
    assert stats.started_at == 1770, stats
    assert stats.packets_decoded <= 30 + 16 + 1, f"decoded {stats.packets_decoded} packets for one frame"
    stats = DecodeStats()
    page = list(decode_frames(str(path), range(1740, 1800), stats))
    assert [f.index for f in page] == list(range(1740, 1800)) and stats.started_at == 1740
    assert stats.packets_decoded <= 60 + 16 + 1, f"decoded {stats.packets_decoded} packets for a page of 60 frames"


def test_frames_come_small_when_asked(clip):
    path, sequential = clip
    for small in decode_frames(str(path), range(200, 203), max_side=64):
        assert isinstance(small, DecodedFrame) and small.image.shape == (48, 64, 3)
        whole = sequential[small.index].image
        assert small.timestamp_us == sequential[small.index].timestamp_us
        # the same picture at half the size (the clips are noise: compared in blocks of 8 source pixels)
        coarse_whole = whole.reshape(12, 8, 16, 8, 3).mean(axis=(1, 3))
        coarse_small = small.image.reshape(12, 4, 16, 4, 3).mean(axis=(1, 3))
        assert np.abs(coarse_whole - coarse_small).mean() < 4
