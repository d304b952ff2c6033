"""Train the ``demo/shapes`` model from scratch on synthetic shapes, reproducibly.

    python -m sightline.models.demo.train --out assets/models/shapes.pt

The defaults are the recipe of the shipped checkpoint (about 40 minutes on two CPU cores).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset

from sightline.models.checkpoint import Checkpoint
from sightline.models.demo.architecture import build_slim_maskrcnn
from sightline.models.demo.synthetic import CLASSES, make_sample

TRAIN_SEED = 0
# a shape is one class only: overlapping boxes of different classes are duplicates
DEFAULT_SETTINGS = {"conf": 0.5, "iou": 0.5, "max_detections": 100, "agnostic_nms": True}


class ShapesStream(IterableDataset):
    """An endless, deterministic stream of training samples as (image tensor, target dict)."""

    def __init__(self, seed: int, start: int = 0) -> None:
        self.seed, self.start = seed, start

    def __iter__(self) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        index = self.start
        while True:
            s = make_sample(self.seed, index)
            index += 1
            if len(s.class_ids) == 0:
                continue
            image = torch.from_numpy(s.image).permute(2, 0, 1).float().div_(255)
            target = {
                "boxes": torch.from_numpy(s.boxes),
                "labels": torch.from_numpy(s.class_ids + 1),
                "masks": torch.from_numpy(s.masks).to(torch.uint8),
            }
            yield image, target


def _collate(batch: list) -> tuple[list, list]:
    return [b[0] for b in batch], [b[1] for b in batch]


def train(steps: int, batch_size: int, lr: float, seed: int, out: str, threads: int, log_every: int = 25) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model = build_slim_maskrcnn(len(CLASSES) + 1)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    warmup = min(100, steps // 10)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loader = DataLoader(ShapesStream(seed), batch_size=batch_size, collate_fn=_collate, num_workers=1, prefetch_factor=4)
    started = time.time()
    running: dict[str, float] = {}
    for step, (images, targets) in enumerate(loader):
        if step >= steps:
            break
        losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        scheduler.step()
        for k, v in losses.items():
            running[k] = 0.9 * running.get(k, v.item()) + 0.1 * v.item()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            elapsed = time.time() - started
            parts = " ".join(f"{k.removeprefix('loss_')}={v:.3f}" for k, v in running.items())
            print(f"step {step + 1}/{steps} {elapsed / 60:.1f} min lr={scheduler.get_last_lr()[0]:.5f} {parts}", flush=True)
        if (step + 1) % 200 == 0 or step + 1 == steps:
            _save(model, out, steps=step + 1, seed=seed, batch_size=batch_size, lr=lr, minutes=(time.time() - started) / 60)


def _save(model: torch.nn.Module, out: str, **meta: object) -> None:
    Checkpoint(
        architecture="sightline.slim_maskrcnn",
        arch_kwargs={},
        classes=list(CLASSES),
        task="instance_segmentation",
        state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
        default_settings=dict(DEFAULT_SETTINGS),
        meta={"trained_with": "python -m sightline.models.demo.train", **meta},
    ).save(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assets/models/shapes.pt")
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    train(args.steps, args.batch_size, args.lr, args.seed, args.out, args.threads)


if __name__ == "__main__":
    main()
