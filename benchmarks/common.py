"""Shared by the benchmark scripts: the same images, the same bare-model baseline."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import sightline  # noqa: E402
from sightline.models.demo.synthetic import make_sample  # noqa: E402

BENCH_SEED = 99


def make_images(count: int, size: tuple[int, int] = (480, 640)) -> list[np.ndarray]:
    return [make_sample(BENCH_SEED, i, size=size).image for i in range(count)]


def write_jpegs(images: list[np.ndarray], folder: Path) -> Path:
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"{i:04d}.jpg", quality=90)
    return folder


def load_demo() -> sightline.LocalModel:
    model = sightline.load("demo/shapes", device="cpu")
    settings = sightline.PredictSettings().resolved(model.model.default_settings)
    model.model._configure(settings)  # the bare side runs with the engine's thresholds
    return model


def bare_forward(model: sightline.LocalModel, images: list[np.ndarray], batch_size: int) -> tuple[float, float]:
    """(images per second, seconds per batch) of the torchvision module alone on pre-decoded tensors.

    It runs on the model's own inference thread, like the engine: torch work on different threads
    runs on different OpenMP teams, and a baseline on another thread would be unfairly slow.
    """
    module = model.model.module
    tensors = [torch.from_numpy(im.copy()).permute(2, 0, 1).float().div(255) for im in images]

    def run() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(tensors), batch_size):
                module(tensors[i : i + batch_size])
        return time.perf_counter() - start

    elapsed = model._worker.call(run)
    batches = (len(images) + batch_size - 1) // batch_size
    return len(images) / elapsed, elapsed / batches


def row(label: str, value: float, unit: str, note: str = "") -> None:
    print(f"{label:<44}{value:10.3f} {unit:<8}{note}")


def parse_args(doc: str, count_name: str = "images", count: int = 48, rounds: int = 5, flags: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """The options every benchmark shares: how many items, the batch size, how many rounds; ``flags``
    adds a script's own on/off switches (name: help)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(f"--{count_name}", type=int, default=count)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=rounds)
    for name, text in (flags or {}).items():
        parser.add_argument(f"--{name}", action="store_true", help=text)
    return parser.parse_args()


def settle(seconds: float = 1.0) -> None:
    """Let threads of the previous phase (OpenMP teams spin after work, another process's too) go
    quiet, so one phase's tail never lands in the next phase's timing."""
    time.sleep(seconds)


def summary(values: list[float]) -> tuple[float, float]:
    """(best, median) of a rate. The best run is the headline: on a shared machine, noise only ever
    slows a run down (the reasoning of Python's ``timeit``); the median shows the spread."""
    import statistics

    return max(values), statistics.median(values)


def alternating(rounds: int, sides: dict[Any, Callable[[], float]], between: Callable[[], None] = settle) -> dict[Any, list[float]]:
    """Each side's measure once per round, in the given order on even rounds and reversed on odd ones, so
    neither side always runs first (warm, or right after the other's tail) and a drift of the machine
    within a round hits both sides alike; round ``k`` of every list was measured side by side."""
    out: dict[Any, list[float]] = {name: [] for name in sides}
    for k in range(rounds):
        for name in (list(sides) if k % 2 == 0 else list(reversed(sides))):
            between()
            out[name].append(sides[name]())
    return out


def paired(values: list[float], baseline: list[float], level: float = 0.90) -> tuple[float, float, float]:
    """(median, low, high) of the per-round ratios ``values[k] / baseline[k]``, with a bootstrap interval.

    The per-round ratio compares two measures taken seconds apart; the ratio of the two medians (the
    ``median`` of ``rate_row``) compares rounds that may be a minute apart, on a machine whose speed moves
    by 10–30% in that time. The interval says how far the median could move with other rounds of the same
    run: a target is not shown while the interval straddles it. It says nothing of what differs between
    runs that start their processes anew, which can be more (docs/benchmarks.md, the top).
    """
    import statistics

    ratios = np.array(values) / np.array(baseline)
    draws = np.random.default_rng(0).choice(ratios, size=(4000, len(ratios)))
    medians = np.median(draws, axis=1)
    tail = (1 - level) / 2
    return statistics.median(ratios.tolist()), float(np.quantile(medians, tail)), float(np.quantile(medians, 1 - tail))


def paired_note(values: list[float], baseline: list[float]) -> str:
    median, low, high = paired(values, baseline)
    return f"paired {median:.3f} [{low:.3f}-{high:.3f}]"


def rate_row(label: str, values: list[float], unit: str, baseline: list[float] | None = None, target: str = "") -> None:
    best, median = summary(values)
    note = ""
    if baseline is not None:
        b_best, b_median = summary(baseline)
        pairs = f", {paired_note(values, baseline)}" if len(values) == len(baseline) else ""
        note = f"ratio best {best / b_best:.3f}, median {median / b_median:.3f}{pairs}  {target}"
    print(f"{label:<44}{best:9.2f} {unit:<9}(median {median:7.2f})  {note}")
