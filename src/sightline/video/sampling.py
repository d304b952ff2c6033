"""Which frames of a video to predict: ``stride``, ``start_frame``, ``end_frame``, ``num_frames``, ``duration``.

Frame indices are those of the source video (0-based, in decode order); ``end_frame`` is exclusive,
``num_frames`` and ``duration`` measure the window from ``start_frame`` before the stride is applied.
"""

from __future__ import annotations

from sightline.errors import InputError
from sightline.settings import InputOptions
from sightline.video.probe import VideoInfo


def frame_window(info: VideoInfo, options: InputOptions) -> range:
    """The source frame indices to predict, or ``InputError`` saying which option is out of range."""
    n = info.frame_count
    name = info.name or info.path
    if n == 0:
        raise InputError(f"video {name!r} has no frames")
    start = options.start_frame
    if start >= n:
        raise InputError(f"start_frame={start} is past the end of video {name!r}, which has {n} frames (0 to {n - 1})")
    if options.end_frame is not None:
        end = options.end_frame
        if end <= start:
            raise InputError(f"end_frame={end} must be greater than start_frame={start}")
        if end > n:
            raise InputError(f"end_frame={end} is past the end of video {name!r}, which has {n} frames (end_frame may be at most {n})")
    elif options.num_frames is not None:
        end = start + options.num_frames
        if end > n:
            raise InputError(
                f"num_frames={options.num_frames} from start_frame={start} runs past the end of video {name!r} "
                f"({n} frames: at most {n - start} from there)"
            )
    elif options.duration is not None:
        end = start + max(1, round(options.duration * info.fps))
        if end > n:
            raise InputError(
                f"duration={options.duration:g} s from start_frame={start} runs past the end of video {name!r} "
                f"({n / info.fps:.2f} s long at {info.fps:g} fps: at most {(n - start) / info.fps:.2f} s from there)"
            )
    else:
        end = n
    return range(start, end, options.stride)
