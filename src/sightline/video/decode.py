"""Decoding the sampled frames of a video file with PyAV, with source frame indices and timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from sightline.video.probe import video_error


@dataclass
class DecodedFrame:
    index: int  # the frame's index in the source video
    timestamp_us: int  # presentation time from the stream start, in microseconds
    image: np.ndarray  # H×W×3 uint8 RGB


class VideoDecodeError(RuntimeError):
    """The video broke while decoding; ``frame_idx`` is the first frame that could not be read."""

    def __init__(self, message: str, frame_idx: int) -> None:
        super().__init__(message)
        self.frame_idx = frame_idx


def decode_frames(path: str, frames: range) -> Iterator[DecodedFrame]:
    """Yield the frames whose source index is in ``frames`` (a range with positive step), in order."""
    if len(frames) == 0:
        return
    wanted_last = frames[-1]
    index = -1
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"  # frame threads would compete with the model for the same cores
            stream.codec_context.thread_count = 1
            start = stream.start_time or 0
            base = stream.time_base
            for frame in container.decode(stream):
                index += 1
                if index > wanted_last:
                    break
                if index < frames.start or (index - frames.start) % frames.step:
                    continue
                pts = frame.pts if frame.pts is not None else start
                yield DecodedFrame(index, int(round((pts - start) * base * 1_000_000)), frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as exc:
        raise VideoDecodeError(f"the video could not be decoded past frame {index}: {video_error(exc, path)}", index + 1) from None
    if index < wanted_last:
        raise VideoDecodeError(f"the video ended after {index + 1} frames, before frame {wanted_last}", index + 1)


def read_frame(path: str, frame_idx: int) -> np.ndarray:
    """Decode one frame of a video by its source index (RGB)."""
    for frame in decode_frames(path, range(frame_idx, frame_idx + 1)):
        return frame.image
    raise VideoDecodeError(f"frame {frame_idx} not found", frame_idx)
