"""torchvision detection models (Faster/Mask R-CNN, RetinaNet, FCOS, SSD, SSDlite) behind ``Model``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import supervision as sv
import torch
import torchvision
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from sightline.errors import InvalidSettingError, ModelLoadError, UnknownArgumentError
from sightline.geometry import compact_masks
from sightline.models.base import Model, Task, finalize
from sightline.models.checkpoint import Checkpoint
from sightline.models.demo.architecture import build_slim_maskrcnn
from sightline.settings import SETTING_NAMES, PredictSettings, parse_settings, reject_unknown

TORCHVISION_DETECTORS = (
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
)


def _torchvision_builder(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, **kwargs: Any) -> nn.Module:
        return torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)

    return build


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "sightline.slim_maskrcnn": build_slim_maskrcnn,
    **{f"torchvision.{n}": _torchvision_builder(n) for n in TORCHVISION_DETECTORS},
}


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; anything unusable is a clear ``InvalidSettingError``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InvalidSettingError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidSettingError(f"device {device!r} was asked for, but this machine has no usable CUDA GPU; use 'cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise InvalidSettingError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


def _task_of(module: nn.Module) -> Task:
    return Task.INSTANCE_SEGMENTATION if getattr(getattr(module, "roi_heads", None), "mask_head", None) is not None else Task.DETECTION


def _transform(module: nn.Module) -> GeneralizedRCNNTransform:
    """The detector's resize-and-normalise step (every torchvision detector has one, as ``transform``)."""
    return module.transform


class TorchvisionModel(Model):
    """Any torchvision ``GeneralizedRCNN`` / RetinaNet / FCOS / SSD module; labels are 1-based (0 = background)."""

    framework = "torchvision"

    def __init__(
        self,
        module: nn.Module,
        classes: list[str],
        name: str,
        device: str = "auto",
        default_settings: dict[str, Any] | None = None,
    ) -> None:
        self._device = resolve_device(device)
        self.device = str(self._device)
        self.module = module.to(self._device).eval()
        self.classes = list(classes)
        self.name = name
        self.task = _task_of(module)
        self.default_settings = {"conf": 0.5, "iou": 0.5, "max_detections": 100, **(default_settings or {})}
        t = _transform(module)
        self.input_size = tuple(t.fixed_size) if getattr(t, "fixed_size", None) else (int(t.min_size[0]), int(t.max_size))
        self._defaults = (tuple(t.min_size), t.max_size, getattr(t, "fixed_size", None))
        self._lock = threading.Lock()  # the module's thresholds are set per call

    def _configure(self, settings: PredictSettings) -> None:
        m, t = self.module, _transform(self.module)
        # the thresholds live on the R-CNN's RoI heads, or on the detector itself (RetinaNet, FCOS, SSD)
        heads: Any = getattr(m, "roi_heads", m)
        heads.score_thresh = float(settings.conf or 0.0)
        heads.nms_thresh = float(settings.iou if settings.iou is not None else 0.5)  # resolved settings carry both
        heads.detections_per_img = int(settings.max_detections if settings.max_detections is not None else 100)
        min_size, max_size, fixed = self._defaults
        size = settings.img_size
        if fixed is not None:
            t.fixed_size = fixed if size is None else ((size, size) if isinstance(size, int) else size)
        elif size is None:
            t.min_size, t.max_size = min_size, max_size
        elif isinstance(size, int):  # the longer side becomes ``size``
            t.min_size, t.max_size = (size,), size
        else:  # exact (h, w): the caller resizes, the transform keeps the scale at 1
            t.min_size, t.max_size = (min(size),), max(size)

    def _to_tensor(self, image: np.ndarray, size: Any) -> torch.Tensor:
        if not image.flags.writeable:  # torch warns on read-only arrays (PIL's, say); the copy is cheap
            image = image.copy()
        x = torch.from_numpy(image).to(self._device).permute(2, 0, 1).float().div_(255)
        if isinstance(size, tuple) and getattr(_transform(self.module), "fixed_size", None) is None:
            x = torch.nn.functional.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]
        return x

    def predict_batch(self, images: list[np.ndarray], settings: PredictSettings) -> list[sv.Detections]:
        with self._lock, torch.inference_mode():
            self._configure(settings)
            outputs = self.module([self._to_tensor(im, settings.img_size) for im in images])
        return [self._to_detections(out, im.shape[:2], settings) for out, im in zip(outputs, images)]

    def _to_detections(self, out: dict[str, torch.Tensor], shape: tuple[int, int], settings: PredictSettings) -> sv.Detections:
        boxes = out["boxes"].float().cpu().numpy()
        mask = None
        if "masks" in out:
            probs = out["masks"][:, 0]
            if probs.shape[-2:] != shape:  # an exact (h, w) img_size: back to the image's pixels
                probs = torch.nn.functional.interpolate(probs[None], size=shape, mode="bilinear", align_corners=False)[0]
            mask = (probs > 0.5).cpu().numpy()
        if isinstance(settings.img_size, tuple) and getattr(_transform(self.module), "fixed_size", None) is None:
            sy, sx = shape[0] / settings.img_size[0], shape[1] / settings.img_size[1]
            boxes = boxes * np.array([sx, sy, sx, sy], dtype=np.float32)
        labels = out["labels"].cpu().numpy().astype(np.int64) - 1
        valid = (labels >= 0) & (labels < len(self.classes))
        detections = sv.Detections(
            xyxy=boxes[valid].reshape(-1, 4),
            mask=compact_masks(mask[valid]) if mask is not None else None,
            confidence=out["scores"].float().cpu().numpy()[valid],
            class_id=labels[valid],
        )
        return finalize(detections, settings, self.classes)

    def to_device(self, device: str) -> None:
        with self._lock:
            self._device = resolve_device(device)
            self.device = str(self._device)
            self.module.to(self._device)

    def close(self) -> None:
        self.module = None  # type: ignore[assignment]


def from_checkpoint(checkpoint: Checkpoint, name: str, device: str) -> TorchvisionModel:
    """Build the recorded architecture, load its weights, and wrap it."""
    builder = ARCHITECTURES.get(checkpoint.architecture)
    if builder is None:
        raise ModelLoadError(
            f"checkpoint architecture {checkpoint.architecture!r} is unknown; known: {', '.join(sorted(ARCHITECTURES))}"
        )
    defaults = checkpoint.default_settings
    try:
        reject_unknown(defaults, SETTING_NAMES, "the checkpoint's default_settings")
        parse_settings(defaults, checkpoint.classes)  # checked now: a bad default would fail every prediction later
    except (InvalidSettingError, UnknownArgumentError) as exc:
        raise ModelLoadError(f"checkpoint field 'default_settings' is invalid: {exc}") from None
    try:
        module = builder(len(checkpoint.classes) + 1, **checkpoint.arch_kwargs)
    except Exception as exc:  # any argument a builder cannot take, by name or by value
        raise ModelLoadError(
            f"checkpoint field 'arch_kwargs' ({', '.join(checkpoint.arch_kwargs) or 'empty'}) does not fit architecture "
            f"{checkpoint.architecture!r}: {exc}"
        ) from None
    try:
        module.load_state_dict(checkpoint.state_dict)
    except RuntimeError as exc:
        raise ModelLoadError(f"checkpoint weights do not fit architecture {checkpoint.architecture!r}: {exc}") from None
    return TorchvisionModel(module, checkpoint.classes, name=name, device=device, default_settings=checkpoint.default_settings)


def from_coco_weights(arch: str, device: str) -> TorchvisionModel:
    """A torchvision detector with its COCO weights (downloaded once into torch's cache)."""
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    try:
        module = torchvision.models.get_model(arch, weights=weights)
    except Exception as exc:  # urllib / SSL / hash errors: all mean the file could not be had
        raise ModelLoadError(
            f"the COCO weights of torchvision/{arch} could not be fetched ({exc.__class__.__name__}: {exc}). "
            "They download once from PyTorch's servers into ~/.cache/torch; on an offline machine, copy the file "
            f"{weights.url.rsplit('/', 1)[-1]} there, or load a sightline checkpoint instead."
        ) from None
    classes = list(weights.meta["categories"][1:])
    return TorchvisionModel(module, classes, name=f"torchvision/{arch}", device=device)
