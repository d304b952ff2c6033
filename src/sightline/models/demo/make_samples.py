"""Make the sample assets: a few shapes images (JPEG) and a short H.264 video of moving shapes.

    python -m sightline.models.demo.make_samples --out assets/samples
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from sightline.models.demo.synthetic import _polygon, make_sample

SAMPLE_SEED = 7


def write_images(out: Path, count: int = 4) -> list[Path]:
    paths = []
    for i in range(count):
        s = make_sample(SAMPLE_SEED, i, max_shapes=7, min_shapes=4, size=(480, 640))
        path = out / f"shapes_{i + 1}.jpg"
        Image.fromarray(s.image).save(path, quality=92)
        paths.append(path)
    return paths


def moving_shapes_frames(frames: int = 72, size: tuple[int, int] = (360, 480), seed: int = SAMPLE_SEED):
    """Yield RGB frames of a circle, a square and a triangle gliding across a still, noisy background.

    Each shape keeps to its own lane, so a good tracker keeps one id per shape for the whole clip.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    background = np.clip(np.array([40, 50, 70]) + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    sx, sy = w / 480, h / 360
    movers = [  # kind, start (x, y), velocity per frame, size, colour
        ("circle", (50 * sx, 80 * sy), (5.5 * sx, 0.3 * sy), 60 * sx, (230, 60, 50)),
        ("square", (420 * sx, 185 * sy), (-5.0 * sx, -0.2 * sy), 70 * sx, (60, 140, 240)),
        ("triangle", (70 * sx, 290 * sy), (4.6 * sx, -0.3 * sy), 80 * sx, (250, 210, 40)),
    ]
    for t in range(frames):
        canvas = Image.fromarray(background)
        draw = ImageDraw.Draw(canvas)
        for kind, (x, y), (vx, vy), size_px, colour in movers:
            cx, cy = x + vx * t, y + vy * t
            if kind == "circle":
                draw.ellipse((cx - size_px / 2, cy - size_px / 2, cx + size_px / 2, cy + size_px / 2), fill=colour)
            else:
                draw.polygon(_polygon(kind, cx, cy, size_px, 0.3 + 0.02 * t * (1 if kind == "square" else -1)), fill=colour)
        yield np.asarray(canvas)


def write_video(path: Path, fps: int = 24) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "medium"}
        first = True
        for frame in moving_shapes_frames():
            if first:
                stream.height, stream.width = frame.shape[:2]
                first = False
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assets/samples")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for p in write_images(out):
        print(p)
    print(write_video(out / "moving_shapes.mp4"))


if __name__ == "__main__":
    main()
