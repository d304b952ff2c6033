"""Pictures and HTML the panels show: drawn predictions, thumbnails, the progress bar, the model card."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sightline.detections import subset
from sightline.drawing import draw_detections
from sightline.engine.status import SessionState, SessionStatus
from sightline.models.base import ModelInfo
from sightline.prediction import Prediction

THUMB_SIDE = 320
VIEW_SIDE = 1280


def shrink(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """The image scaled so its longer side is at most ``side``, and the scale applied."""
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)), scale


def draw(pred: Prediction, image: np.ndarray, keep: np.ndarray, *, side: int = VIEW_SIDE, boxes: bool = True,
         masks: bool = True, labels: bool = True) -> np.ndarray:
    """``image`` (the source, maybe already smaller) with the kept objects of ``pred`` drawn, at most
    ``side`` pixels on its longer side."""
    small, _ = shrink(image, side)
    scale = small.shape[1] / pred.image_size[1] if pred.image_size else 1.0  # boxes are in source pixels
    detections = subset(pred.detections, keep) if len(pred) else pred.detections
    if abs(scale - 1.0) > 1e-9 and len(detections):
        detections = _scaled(detections, scale, small.shape[:2])
    return draw_detections(small, detections, boxes=boxes, masks=masks, labels=labels, smart_labels=side > THUMB_SIDE)


def _scaled(detections: Any, scale: float, shape: tuple[int, int]) -> Any:
    import supervision as sv

    out = sv.Detections(
        xyxy=detections.xyxy * scale,
        confidence=detections.confidence,
        class_id=detections.class_id,
        tracker_id=detections.tracker_id,
        data=dict(detections.data),
    )
    if detections.mask is not None:
        masks = np.asarray(detections.mask, dtype=bool)
        out.mask = np.stack([np.asarray(Image.fromarray(m).resize(shape[::-1], Image.Resampling.NEAREST)) for m in masks]).astype(bool) \
            if len(masks) else np.zeros((0, *shape), dtype=bool)
    return out


def save_jpeg(image: np.ndarray, path: Path) -> str:
    Image.fromarray(image).save(path, format="JPEG", quality=88)
    return str(path)


def caption(pred: Prediction, kept: int) -> str:
    # a frame's number comes first: every frame of a video shares the file name, which a narrow tile cuts
    name = f"frame {pred.frame_idx}" if pred.frame_idx is not None else item_name(pred)
    if pred.error:
        return f"{name}: failed"
    return f"{name}: {kept} object{'s' if kept != 1 else ''}"


def item_name(pred: Prediction) -> str:
    # a workspace video is named by its name there (its path on the server is a content hash)
    video = pred.source if pred.video_id is not None and pred.source else pred.video_path
    base = (pred.image_path or pred.image_url or video or pred.source or f"item {pred.index}").rstrip("/").rsplit("/", 1)[-1]
    return f"{base} frame {pred.frame_idx}" if pred.frame_idx is not None else base


def failed_tile(side: int = THUMB_SIDE) -> np.ndarray:
    tile = np.full((side * 3 // 4, side, 3), 235, dtype=np.uint8)
    tile[::8, :, :] = 210  # a hatched tile stands for an item that has no picture
    return tile


def progress_html(status: SessionStatus | None, lost: bool = False, error: bool = True) -> str:
    """The run's progress bar: done/total, rate, time left and failures, in words a person reads.
    ``lost``: the run's server is gone; the bar keeps the last progress seen and says so. ``error``:
    whether to show the run's failure (not when a newer message replaces it)."""
    if status is None and lost:
        return "<div class='sl-progress' data-state='lost'><b>Server gone</b> before the run's progress was read.</div>"
    if status is None:
        return "<div class='sl-progress sl-idle'>No run yet. Choose an input and press <b>Run</b>.</div>"
    total = status.total or 0
    pct = 100.0 * status.done / total if total else (100.0 if status.state.is_final else 0.0)
    parts = [f"<b>{status.done}</b> of <b>{total or '?'}</b> done"]
    if status.rate:
        parts.append(f"{status.rate:.1f} items/s")
    if status.eta_s is not None and not status.state.is_final and not lost:
        parts.append(f"about {_duration(status.eta_s)} left")
    parts.append(f"{_duration(status.elapsed_s)} elapsed")
    if status.failed:
        parts.append(f"<span class='sl-failed'>{status.failed} failed</span>")
    state = {SessionState.COMPLETED: "Finished", SessionState.STOPPED: "Stopped", SessionState.FAILED: "Failed",
             SessionState.INTERRUPTED: "Interrupted (resumable)"}.get(status.state, "Running")
    if lost and not status.state.is_final:
        state = "Server gone"
    value = "lost" if lost and not status.state.is_final else status.state.value
    said = f"<div class='sl-error'>{html.escape(status.error)}</div>" if status.error and error else ""
    return (
        f"<div class='sl-progress' data-state='{value}' data-done='{status.done}' data-total='{total}'>"
        f"<div class='sl-bar'><div class='sl-fill' style='width:{pct:.1f}%'></div></div>"
        f"<div class='sl-line'><b>{state}</b> · {' · '.join(parts)}</div>{said}</div>"
    )


def _duration(seconds: float | None) -> str:
    s = max(0, int(round(seconds or 0)))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def model_card(info: ModelInfo, where: str) -> str:
    """Name, task, device, classes with their colours and default settings of the connected model."""
    chips = "".join(
        f"<span class='sl-chip'><span class='sl-swatch' style='background:{html.escape(c)}'></span>{html.escape(n)}</span>"
        for n, c in zip(info.classes, info.class_colors)
    )
    defaults = ", ".join(f"{k}={v}" for k, v in info.default_settings.items()) or "none"
    size = "×".join(str(v) for v in info.input_size) if info.input_size else "any"
    return (
        f"<div class='sl-card' data-model='{html.escape(info.name)}'>"
        f"<div><b>{html.escape(info.name)}</b> · {info.task.value.replace('_', ' ')} · device <b>{html.escape(info.device)}</b>"
        f" · {html.escape(info.framework)} · input {size} · served by {html.escape(where)}</div>"
        f"<div class='sl-chips'>{len(info.classes)} classes: {chips}</div>"
        f"<div class='sl-defaults'>defaults: {html.escape(defaults)}</div></div>"
    )


CSS = """
.sl-progress { padding: 6px 2px; }
.sl-bar { height: 14px; background: var(--neutral-200, #e5e7eb); border-radius: 7px; overflow: hidden; }
.sl-fill { height: 100%; background: var(--color-accent, #f97316); }
.sl-line { margin-top: 4px; font-size: 0.95em; }
.sl-failed, .sl-error { color: #b91c1c; }
.sl-chip { display: inline-flex; align-items: center; gap: 4px; margin: 2px 8px 2px 0; }
.sl-swatch { width: 12px; height: 12px; border-radius: 3px; display: inline-block; }
.sl-defaults { color: var(--body-text-color-subdued, #6b7280); font-size: 0.9em; }
"""
