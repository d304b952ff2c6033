"""Annotated video output: H.264 ``yuv420p`` MP4 (plays in browsers), written on its own thread.

Frames arrive with their predictions in order; drawing and encoding happen on the writer thread, fed
through a bounded queue, so the model never waits for the encoder unless the encoder falls behind by
more than the queue holds.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import supervision as sv

from sightline.drawing import RGB_PALETTE, draw_detections
from sightline.prediction import Prediction
from sightline.video.probe import time_base

_END = object()


class AnnotatedVideoWriter:
    def __init__(self, path: str | Path, fps: float, traces: bool = False, queue_size: int = 8, audio_from: str | None = None) -> None:
        self.path = Path(path)
        self.audio_from = audio_from  # a source whose sound is copied over the frames' time span
        self.fps = fps
        self.traces = sv.TraceAnnotator(color=RGB_PALETTE, trace_length=int(fps * 2)) if traces else None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.frames_written = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sightline-encoder", daemon=True)
        self._thread.start()

    def write(self, frame: np.ndarray, prediction: Prediction) -> None:
        """Queue one frame (RGB) and its prediction; blocks only when the encoder is a queue behind."""
        self._queue.put((frame, prediction))

    def close(self) -> Path:
        """Finish the file; raises if encoding failed."""
        self._queue.put(_END)
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.path

    def _add_audio(self, container: av.container.OutputContainer) -> av.audio.stream.AudioStream | None:
        if self.audio_from is None:
            return None
        with av.open(self.audio_from) as source:
            if not source.streams.audio:
                return None
            return container.add_stream_from_template(source.streams.audio[0])

    def _copy_audio(self, container: av.container.OutputContainer, out: av.audio.stream.AudioStream, start_us: int, end_us: int) -> None:
        """Copy the source's audio packets (no re-encoding) for the span the frames cover, shifted to start at 0."""
        with av.open(self.audio_from, mode="r") as source:
            src = source.streams.audio[0]
            base = time_base(src)
            origin = src.start_time or 0
            for packet in source.demux(src):
                if packet.pts is None or packet.size == 0:
                    continue
                t_us = int((packet.pts - origin) * base * 1_000_000)
                if t_us < start_us or t_us >= end_us:
                    continue
                shift = int(start_us / 1_000_000 / base)
                packet.pts -= origin + shift
                if packet.dts is not None:
                    packet.dts -= origin + shift
                packet.stream = out
                container.mux(packet)

    def _run(self) -> None:
        try:
            with av.open(str(self.path), "w", options={"movflags": "+faststart"}) as container:
                rate = Fraction(self.fps).limit_denominator(1001)
                stream = container.add_stream("libx264", rate=rate)
                stream.pix_fmt = "yuv420p"
                # one encoder thread at a fast preset: on small CPUs every extra thread is taken from the model
                stream.options = {"preset": "superfast", "crf": "23", "threads": "1"}
                started = False
                audio = None
                span: list[int] = []
                while (item := self._queue.get()) is not _END:
                    frame, pred = item
                    if not started:  # yuv420p needs even sizes
                        stream.height, stream.width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
                        audio = self._add_audio(container)
                        started = True
                    if pred.timestamp_us is not None:
                        span = [span[0] if span else pred.timestamp_us, pred.timestamp_us]
                    drawn = draw_detections(frame, pred.detections, smart_labels=False)
                    if self.traces is not None and pred.track_ids is not None and len(pred):
                        drawn = self.traces.annotate(drawn, pred.detections[pred.track_ids >= 0])
                    drawn = drawn[: stream.height, : stream.width]
                    for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(drawn), format="rgb24")):
                        container.mux(packet)
                    self.frames_written += 1
                for packet in stream.encode():
                    container.mux(packet)
                if audio is not None and span:
                    self._copy_audio(container, audio, span[0], span[1] + int(1e6 / self.fps))
        except BaseException as exc:  # reported by close(); keep draining so producers never block
            self.error = exc
            while self._queue.get() is not _END:
                pass


def redraw_annotated_video(source: str, predictions: Sequence[Prediction], path: str | Path, traces: bool = False) -> tuple[Path, list[str]]:
    """An annotated video of ``predictions`` (frames of ``source``, each with the objects to show), drawn on
    their frames read again from ``source``, as a run's own is drawn: one frame per prediction in frame order,
    at the source's rate over the sampling stride, with the source's sound. For a run whose objects were
    reviewed afterwards (rejected, fixed), which the video the run drew cannot show.

    Returns the file and, for each prediction whose frame could not be read (left out), why."""
    from sightline.video.decode import FrameFailure, decode_frames
    from sightline.video.probe import probe_video

    by_frame = {int(p.frame_idx): p for p in predictions if p.frame_idx is not None}
    if not by_frame:
        raise ValueError("no video frames to draw")
    order = sorted(by_frame)
    stride = min((b - a for a, b in zip(order, order[1:])), default=1)
    on_grid = all((k - order[0]) % stride == 0 for k in order)
    frames = range(order[0], order[-1] + 1, stride if on_grid else 1)
    writer = AnnotatedVideoWriter(path, probe_video(source).fps / stride, traces=traces, audio_from=source)
    left_out: list[str] = []
    queued = 0
    try:
        for frame in decode_frames(source, frames):  # one pass from the keyframe before the first frame
            pred = by_frame.get(frame.index)
            if pred is None:
                continue
            if isinstance(frame, FrameFailure):
                left_out.append(frame.reason)
            else:
                writer.write(frame.image, pred)
                queued += 1
    except BaseException:
        with contextlib.suppress(Exception):  # the writer's thread ends either way; the first error is the one
            writer.close()
        raise
    if not queued:  # an encoder that got no frame has no size to finish a file with: end its thread, say why
        with contextlib.suppress(Exception):
            writer.close()
        raise ValueError(f"none of its frames could be read ({left_out[0] if left_out else 'none asked'})")
    return writer.close(), left_out
