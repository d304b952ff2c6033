"""Video pipeline vs. model: frames/s of the model alone on pre-decoded frames, and of the whole
pipeline (decode, infer, track, draw, encode H.264), on the same frames in one run.

    .venv/bin/python benchmarks/video_pipeline.py [--frames 96] [--batch-size 4] [--rounds 5]

Target: the pipeline keeps >= 85% of the model-only rate.
"""

from __future__ import annotations

import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
from common import load_demo, parse_args, rate_row, settle

from sightline.models.demo.make_samples import moving_shapes_frames
from sightline.settings import PredictSettings


def write_video(path: Path, frames: int) -> list:
    images = list(moving_shapes_frames(frames=frames, size=(480, 640)))
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(24))
        s.pix_fmt, s.height, s.width = "yuv420p", 480, 640
        for im in images:
            for p in s.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return images


def main() -> None:
    args = parse_args(__doc__, "frames", 96)
    model = load_demo()
    adapter = model.model
    settings = PredictSettings(batch_size=args.batch_size).resolved(adapter.default_settings)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        frames = write_video(video, args.frames)
        decoded = frames  # the model-only side gets frames already in memory
        def model_only() -> float:  # on the model's own thread, as the pipeline runs it
            start = time.perf_counter()
            for i in range(0, len(decoded), args.batch_size):
                adapter.predict_batch(decoded[i : i + args.batch_size], settings)
            return len(decoded) / (time.perf_counter() - start)

        model._worker.call(model_only)  # warm-up
        only, full = [], []
        for r in range(args.rounds):
            settle()
            only.append(model._worker.call(model_only))
            settle()
            start = time.perf_counter()
            session = model.predict_detached(input=video, batch_size=args.batch_size, tracking=True, annotated_video=Path(tmp) / f"out{r}.mp4")
            n = sum(1 for _ in session)
            session.annotated_video()
            full.append(n / (time.perf_counter() - start))
    print(f"demo/shapes, {args.frames} frames 640x480, batch {args.batch_size}, {args.rounds} interleaved rounds")
    rate_row("model only (pre-decoded frames)", only, "frames/s")
    rate_row("pipeline: decode+infer+track+draw+encode", full, "frames/s", only, "(target >= 0.85)")


if __name__ == "__main__":
    main()
