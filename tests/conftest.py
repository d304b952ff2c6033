"""Shared fixtures: the real demo model, sample images with known shapes, a loopback file server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import sightline
from sightline.models.demo.synthetic import Sample, make_sample
from sightline.paths import SAMPLES_DIR

TEST_SEED = 4242  # neither the training seed nor the evaluation seed


@pytest.fixture(autouse=True)
def _strict_image_decoding() -> None:
    """Importing the supervisely client (tests/compat) sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, after
    which truncated files decode silently; a sightline server never imports it, so tests run as it does."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False


@pytest.fixture(scope="session")
def demo_model() -> sightline.LocalModel:
    return sightline.load("demo/shapes", device="cpu")


@pytest.fixture(scope="session")
def samples() -> list[Sample]:
    """Synthetic images whose true shapes are known, sized like ordinary photos."""
    return [make_sample(TEST_SEED, i, max_shapes=5, size=(360, 480)) for i in range(6)]


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, samples: list[Sample]) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for i, s in enumerate(samples):
        Image.fromarray(s.image).save(folder / f"img_{i:02d}.png")
    return folder


@pytest.fixture(scope="session")
def sample_video() -> Path:
    return SAMPLES_DIR / "moving_shapes.mp4"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def file_server(sample_dir: Path) -> Iterator[str]:
    """Serves ``sample_dir`` over HTTP on loopback; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(sample_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def best_iou(box: np.ndarray, boxes: np.ndarray) -> float:
    if len(boxes) == 0:
        return 0.0
    from sightline.geometry import box_iou

    return float(box_iou(box[None], boxes).max())


def matched_fraction(pred: sightline.Prediction, sample: Sample, threshold: float = 0.7) -> float:
    """Share of true shapes found with the right class and box IoU >= threshold."""
    if len(sample.class_ids) == 0:
        return 1.0
    hits = 0
    for box, cls in zip(sample.boxes, sample.class_ids):
        same = pred.class_ids == cls
        hits += best_iou(box, pred.boxes[same]) >= threshold
    return hits / len(sample.class_ids)


from tests.scale.cluster import ray_app, ray_cluster  # noqa: E402,F401  (one local Ray cluster per run, and sightline on Ray Serve)
from tests.servers import any_server, server, start_server  # noqa: E402,F401  (live-server fixtures for server and client tests)
