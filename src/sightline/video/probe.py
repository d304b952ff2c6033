"""Reading a video's facts (frame count, rate, size, audio) with PyAV, without decoding it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from sightline.errors import InputError
from sightline.inputs.images import MAX_PIXELS

if TYPE_CHECKING:  # PyAV loads with the first video
    from av.stream import Stream

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"})


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float
    has_audio: bool
    name: str = ""  # what messages call the file (not its location)


def time_base(stream: Stream) -> Fraction:
    """Seconds per timestamp tick of ``stream``; FFmpeg's own base (1 µs, ``AV_TIME_BASE``) if it records none."""
    return stream.time_base if stream.time_base is not None else Fraction(1, 1_000_000)


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def video_error(exc: BaseException, path: str | Path) -> str:
    """FFmpeg's reason without the file's location (on a server that is a temp path of its own)."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return str(reason).replace(str(path), Path(path).name)


def probe_video(path: str | Path, name: str | None = None, max_pixels: int = MAX_PIXELS) -> VideoInfo:
    """Probe a video file; ``InputError`` when it cannot be opened, has no video stream, or its frames are
    over ``max_pixels`` (checked here, since decoding frames does not check it).

    Messages call the file ``name`` (default: its file name), never by where it is kept."""
    import av  # imported here: a client that sends no video never needs PyAV

    path = str(path)
    name = name or Path(path).name
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise InputError(f"{name!r} has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width * height > max_pixels:
                raise InputError(f"{name!r} has frames of {width}×{height} pixels, over the limit of {max_pixels:,}")
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            count = stream.frames
            if not count:  # some containers do not record it: count packets, which needs no decoding
                count = sum(1 for p in container.demux(stream) if p.size)
            duration = float(stream.duration * time_base(stream)) if stream.duration else count / float(rate)
            return VideoInfo(
                path=path,
                frame_count=int(count),
                fps=float(rate),
                width=width,
                height=height,
                duration_s=duration,
                has_audio=bool(container.streams.audio),
                name=name,
            )
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001  crafted files make PyAV raise more than FFmpegError (UnicodeDecodeError, AttributeError)
        raise InputError(f"{name!r} could not be read as a video: {video_error(exc, path)}") from None
