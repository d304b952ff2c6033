"""Decoding the sampled frames of a video file with PyAV, with source frame indices and timestamps.

A damaged file costs only its damaged frames: every sampled index comes out exactly once, as a
``DecodedFrame`` or as a ``FrameFailure`` saying why, so a run's total never changes under it.

How damage shows (measured with PyAV 16 / FFmpeg on corrupted copies of the sample video): the H.264
decoder raises ``InvalidDataError`` for a packet it cannot decode, and would go on with the next ones by
concealing from the last good picture, which gives ghost pictures (the demo model finds 7 to 11 shapes
where there are 3); demuxers resynchronise by themselves (MP4, MKV, MPEG-TS) and a truncated file just
ends early. So a packet that fails fails its frame, the pictures decoded before it are kept, and the
frames up to the next keyframe fail as depending on it; decoding resumes at that keyframe. A frame's
index is the rank of its presentation time among the file's packets, never a count of decoder output,
so a lost frame cannot shift the indices of the frames after it. When the demuxer itself raises, we
seek forward to the next keyframe after the last packet read.

Frames far from the start are reached by seeking: one demuxing pass (no decoding) gives every packet's
presentation time, decoding position and keyframe flag; decoding then starts at the last keyframe before
the first wanted frame in both presentation and decoding order (B-frames and open GOPs put frames before
a keyframe in one order and after it in the other), so its cost is the distance to that keyframe, not to
the start of the video. Indices still come from the demuxing pass, so they are the same as when decoding
from the start. A file the demuxer could not read whole is decoded from its start, as before.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from sightline.video.probe import time_base, video_error

# H.264/HEVC hold at most 16 pictures for reordering: packets this far past the last wanted frame in
# decode order settle the presentation order of every frame up to it
_REORDER_MARGIN = 16
_NO_PICTURE = "no picture came out of the decoder for it (its data is damaged or missing)"


@dataclass
class DecodedFrame:
    index: int  # the frame's index in the source video
    timestamp_us: int  # presentation time from the stream start, in microseconds
    image: np.ndarray  # H×W×3 uint8 RGB


@dataclass
class FrameFailure:
    index: int  # the sampled frame's index in the source video
    reason: str  # a sentence naming the frame and what went wrong


class VideoDecodeError(RuntimeError):
    """One frame could not be read (``read_frame``); ``frame_idx`` is that frame."""

    def __init__(self, message: str, frame_idx: int) -> None:
        super().__init__(message)
        self.frame_idx = frame_idx


def _open(path: str) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    container = av.open(path)
    stream = container.streams.video[0]
    stream.thread_type = "SLICE"  # frame threads would compete with the model for the same cores
    stream.codec_context.thread_count = 1
    return container, stream


def _packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream, lost: list[str]) -> Iterator[av.Packet]:
    """The stream's packets in decode order (the last one empty, to flush the decoder).

    When the demuxer raises, note why in ``lost`` and seek forward to the next keyframe after the last
    packet read; stop when that makes no progress."""
    last_pts: int | None = None
    resume_after: int | None = None  # after a seek: packets up to here were given out already
    while True:
        try:
            for packet in container.demux(stream):
                if resume_after is not None and packet.pts is not None and packet.pts <= resume_after:
                    continue
                if packet.pts is not None:
                    last_pts = packet.pts if last_pts is None else max(last_pts, packet.pts)
                yield packet
            return
        except av.FFmpegError as exc:
            lost.append(video_error(exc, container.name))
            if last_pts is None or last_pts == resume_after:
                return
            resume_after = last_pts
            try:
                container.seek(last_pts + 1, stream=stream, backward=False)
            except av.FFmpegError:
                return
            stream.codec_context.flush_buffers()  # pictures in flight reference what was lost


@dataclass
class _Keyframe:
    order: int  # its place in decoding order (0: the stream's first packet)
    pts: int
    dts: int | None


@dataclass
class _PacketIndex:
    """What one demuxing pass learnt: presentation times, decoding order and keyframes."""

    times: list[int]  # the sorted presentation times: a frame's index is its rank here
    order: dict[int, int]  # presentation time -> place in decoding order
    keyframes: list[_Keyframe]  # in decoding order

    def seek_point(self, first: int, last: int) -> _Keyframe | None:
        """The last keyframe from which decoding gives frames ``first``..``last`` whole, or None to decode from
        the start: at or before each of them in decoding order and at or before the first in presentation
        order (a frame shown before its keyframe may reference the previous group, and come out broken)."""
        wanted = self.times[first : last + 1]
        if first <= 0 or not wanted:
            return None
        earliest = min(self.order[t] for t in wanted)
        best = None
        for key in self.keyframes:
            if key.order > earliest:
                break
            if key.pts <= wanted[0]:
                best = key
        return best if best is not None and best.order > 0 else None


def _presentation_times(path: str, packets: int, lost: list[str], unread: set[int]) -> _PacketIndex:
    """The index of the first ``packets`` packets in decode order (demuxing only).

    Where the demuxer had to seek past a part it could not read, that part's frames get times spaced at
    the stream's frame rate (also put in ``unread``), so the frames after it keep their indices."""
    container, stream = _open(path)
    rate = stream.average_rate or stream.guessed_rate
    step = float(1 / (rate * stream.time_base)) if rate and stream.time_base else 0.0  # one frame in time_base units
    with container:
        times: list[int] = []
        order: dict[int, int] = {}
        keyframes: list[_Keyframe] = []
        failures = 0
        for packet in _packets(container, stream, lost):
            if not packet.size or packet.pts is None:
                continue
            if len(lost) > failures and times and step:  # the first packet after a seek
                failures = len(lost)
                gap = _unread_times(sorted(times), packet.pts, stream.start_time or 0, step)
                unread.update(gap)
                times.extend(gap)
            order.setdefault(packet.pts, len(order))
            if packet.is_keyframe:
                keyframes.append(_Keyframe(order[packet.pts], packet.pts, packet.dts))
            times.append(packet.pts)
            if len(times) >= packets:
                break
    return _PacketIndex(sorted(times), order, keyframes)


def _unread_times(known: list[int], resumed_at: int, start: int, step: float) -> list[int]:
    """Frame times on the stream's frame grid before ``resumed_at`` that no packet read had (the skipped part;
    reordered frames a little before the last time read count too)."""
    first = max(0, round((known[-1] - start) / step) - _REORDER_MARGIN)
    grid = (round(start + k * step) for k in range(first, round((resumed_at - start) / step)))
    return [t for t in grid if not _near(known, t, step / 2)]


def _near(known: list[int], t: int, tolerance: float) -> bool:
    i = bisect.bisect_left(known, t)
    return any(abs(known[j] - t) <= tolerance for j in (i - 1, i) if 0 <= j < len(known))


def _drain(stream: av.video.stream.VideoStream) -> list[av.VideoFrame]:
    """The pictures the decoder still holds (decoded before the damage, so sound), then a reset decoder."""
    try:
        pictures = stream.decode(None)
    except av.FFmpegError:
        pictures = []
    stream.codec_context.flush_buffers()
    return pictures


def _seek(container: av.container.InputContainer, stream: av.video.stream.VideoStream, key: _Keyframe,
          index: _PacketIndex, seeks: list[str]) -> tuple[Iterator[av.Packet], int] | None:
    """The packets from keyframe ``key`` on (or from a keyframe before it in decoding order) and the
    presentation time of the one it landed on, or None when the seek landed anywhere else (then decoding
    starts from the beginning of the file)."""
    # a demuxer seeks by presentation time (MP4 here) or by decoding time: try the first, then the smaller
    # of the two, which lands at or before the keyframe either way
    for target in dict.fromkeys([key.pts, key.pts if key.dts is None else min(key.pts, key.dts)]):
        seeks.clear()
        try:
            container.seek(target, stream=stream, backward=True)
        except av.FFmpegError:
            return None
        packets = _packets(container, stream, seeks)
        packet = next((p for p in packets if p.size), None)
        if seeks or packet is None or packet.pts is None or not packet.is_keyframe:
            return None
        place = index.order.get(packet.pts)
        if place is None:
            return None
        if place <= key.order:
            return itertools.chain([packet], packets), packet.pts
    return None


@dataclass
class DecodeStats:
    """What one ``decode_frames`` call decoded: to check that reading a late frame does not start from frame 0."""

    started_at: int = 0  # the index of the frame decoding started from (a keyframe, when it sought)
    packets_decoded: int = 0  # packets given to the decoder


def _source_frames(path: str, first: int, last: int, stats: DecodeStats) -> Iterator[tuple[int, av.VideoFrame | str]]:
    """Every source frame from ``first`` to ``last`` in order (from 0 when the file is damaged): the decoded
    picture, or why there is none."""
    lost: list[str] = []  # why the demuxer could not read on, if it could not
    unread: set[int] = set()  # the times of frames in a part the demuxer could not read
    index = _presentation_times(path, last + 1 + _REORDER_MARGIN, lost, unread)
    times = index.times
    errors: dict[int, str] = {}  # a packet's presentation time -> why it did not decode
    skipped: dict[int, int | None] = {}  # a packet skipped after damage -> the damaged packet (times)

    def missing(k: int) -> str:
        if k >= len(times):
            if lost:
                return f"the file could not be read past frame {len(times) - 1}: {lost[0]}" if times else f"the file could not be read: {lost[0]}"
            return f"the file ends before it (its data holds {len(times)} frames)"
        if times[k] in unread:
            return f"the file could not be read here ({lost[0]}); reading resumed at the next keyframe"
        if times[k] in errors:
            return errors[times[k]]
        if times[k] in skipped:
            at = skipped[times[k]]
            damaged = "a damaged frame" if at is None else f"damaged frame {bisect.bisect_left(times, at)}"
            return f"it follows {damaged} in decoding order, before the next keyframe, so nothing sound is left to decode it from"
        return _NO_PICTURE

    key = None if lost else index.seek_point(first, last)  # a file read whole only: its indices are sure
    seeks: list[str] = []
    container, stream = _open(path)
    landed = _seek(container, stream, key, index, seeks) if key is not None else None
    if landed is None:
        if key is not None:  # the seek landed elsewhere: start again from the beginning
            container.close()
            container, stream = _open(path)
            seeks.clear()
        packets = _packets(container, stream, seeks)
        emitted = 0  # the next index to give out
    else:
        packets, landed_pts = landed
        emitted = first  # pictures before it (a keyframe's leading frames) are neither wanted nor sound
        stats.started_at = bisect.bisect_left(times, landed_pts)
    skipping, damaged_at = False, None  # after damage: packets are skipped up to the next keyframe
    with container:
        for packet in packets:
            if seeks:  # the demuxer failed and sought forward: start clean at a keyframe
                seeks.clear()
                skipping, damaged_at = True, None
            if skipping:
                if not packet.is_keyframe:
                    if packet.pts is not None:
                        skipped[packet.pts] = damaged_at
                    continue
                skipping = False
            try:
                stats.packets_decoded += bool(packet.size)
                pictures = packet.decode()
            except av.FFmpegError as exc:
                if not packet.size:
                    continue  # the final flush: nothing is left to lose
                if packet.pts is not None:
                    errors[packet.pts] = video_error(exc, path)
                # the frames after it reference it: the decoder would conceal them into ghost pictures
                # (on the sample, 7 to 11 objects found instead of 3), so skip to the next keyframe
                pictures, skipping, damaged_at = _drain(stream), True, packet.pts
            for picture in pictures:
                at = bisect.bisect_left(times, picture.pts) if picture.pts is not None and times else emitted
                if at < emitted:
                    continue  # a late picture for a frame already given out, or one before the first wanted
                while emitted < min(at, last + 1):
                    yield emitted, missing(emitted)
                    emitted += 1
                if at > last:
                    return
                yield at, picture
                emitted = at + 1
    while emitted <= last:
        yield emitted, missing(emitted)
        emitted += 1


def _rgb(picture: av.VideoFrame, max_side: int | None) -> np.ndarray:
    """The picture as RGB, scaled (by FFmpeg, from YUV) so its longer side is at most ``max_side``: several
    times cheaper than converting it whole and shrinking the array."""
    w, h = picture.width, picture.height
    if max_side is None or max(w, h) <= max_side:
        return picture.to_ndarray(format="rgb24")
    scale = max_side / max(w, h)
    return picture.to_ndarray(width=max(1, round(w * scale)), height=max(1, round(h * scale)), format="rgb24", interpolation="AREA")


def decode_frames(path: str, frames: range, stats: DecodeStats | None = None, max_side: int | None = None) -> Iterator[DecodedFrame | FrameFailure]:
    """One entry per index in ``frames`` (a range with positive step), in order: the frame or why not.

    Decoding starts at the last keyframe before ``frames.start`` (see the module's note); ``stats``, if
    given, is filled with what was decoded. ``max_side``: images come scaled to at most that many pixels
    on their longer side (thumbnails)."""
    if len(frames) == 0:
        return
    stats = stats if stats is not None else DecodeStats()
    next_index = frames.start
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            start, base = stream.start_time or 0, time_base(stream)
        for index, got in _source_frames(path, frames.start, frames[-1], stats):
            if index not in frames:
                continue
            next_index = index + frames.step
            if isinstance(got, str):
                yield FrameFailure(index, f"frame {index} could not be decoded: {got}")
            else:
                pts = got.pts if got.pts is not None else start
                yield DecodedFrame(index, round((pts - start) * base * 1_000_000), _rgb(got, max_side))
    except (av.FFmpegError, OSError, IndexError) as exc:  # the file broke (or went) after it was probed
        reason = video_error(exc, path) if not isinstance(exc, IndexError) else "it has no video stream"
        for index in range(next_index, frames.stop, frames.step):
            yield FrameFailure(index, f"frame {index} could not be decoded: the video could not be read: {reason}")


def read_frame(path: str, frame_idx: int) -> np.ndarray:
    """Decode one frame of a video by its source index (RGB); ``VideoDecodeError`` when it cannot be."""
    for frame in decode_frames(path, range(frame_idx, frame_idx + 1)):
        if isinstance(frame, FrameFailure):
            raise VideoDecodeError(frame.reason, frame_idx)
        return frame.image
    raise VideoDecodeError(f"frame {frame_idx} not found", frame_idx)
