"""The model zoo: every name ``sightline.load`` accepts, and loading by name or checkpoint path."""

from __future__ import annotations

from pathlib import Path

from sightline.errors import InvalidSettingError, ModelLoadError
from sightline.models.base import Model, Task, ZooEntry
from sightline.models.checkpoint import Checkpoint
from sightline.models.torchvision_adapter import TORCHVISION_DETECTORS, from_checkpoint, from_coco_weights
from sightline.models.ultralytics_adapter import UltralyticsModel, looks_like_ultralytics
from sightline.paths import DEMO_CHECKPOINT
from sightline.workspace.names import valid_name

DEMO_MODEL = "demo/shapes"


def list_models() -> list[ZooEntry]:
    """Every named model; COCO weights download on first use on a connected machine."""
    entries = [ZooEntry(DEMO_MODEL, Task.INSTANCE_SEGMENTATION, "circles, squares and triangles; bundled, CPU-fast", False)]
    for arch in TORCHVISION_DETECTORS:
        task = Task.INSTANCE_SEGMENTATION if arch.startswith("maskrcnn") else Task.DETECTION
        entries.append(ZooEntry(f"torchvision/{arch}", task, "COCO, 80 classes", True))
    return entries


def is_zoo_name(name: str) -> bool:
    """Exactly one of the zoo's names (``demo/../x.pt`` is a path, not a zoo name)."""
    return name in {e.name for e in list_models()}


def checkpoint_name(checkpoint: Checkpoint, file_name: str, fallback: str = "") -> str:
    """The one name a checkpoint goes by, whichever route loads it (``load``, ``load_model``, ``deploy``,
    ``upload_model``): its ``meta.name``, else its file's stem (else ``fallback``), stripped.

    It follows the workspace's rule for names (one line of printable text, no path separator, bounded), and
    may not be a zoo name, so a checkpoint can never stand in for a model other clients ask for by name."""
    meta = checkpoint.meta.get("name")
    field = "meta.name" if meta is not None and (not isinstance(meta, str) or meta.strip()) else "file name"
    raw = meta if field == "meta.name" else (Path(file_name).stem or fallback)
    if is_zoo_name(str(raw).strip()):
        raise InvalidSettingError(f"checkpoint {field} {raw!r} is a zoo name; a checkpoint cannot take the name of a model "
                                  "the zoo provides: save it under another name")
    return valid_name(raw, f"checkpoint {field}")


def load_model(model: str | Path, device: str = "auto") -> Model:
    """Load a zoo name (``demo/shapes``, ``torchvision/<arch>``) or a checkpoint file path."""
    name = str(model)
    if name == DEMO_MODEL:
        return from_checkpoint(Checkpoint.load(DEMO_CHECKPOINT), name=DEMO_MODEL, device=device)
    if name.startswith("torchvision/"):
        arch = name.removeprefix("torchvision/")
        if arch not in TORCHVISION_DETECTORS:
            raise ModelLoadError(f"unknown torchvision model {arch!r}; known: {', '.join(TORCHVISION_DETECTORS)}")
        return from_coco_weights(arch, device)
    path = Path(name).expanduser()
    if path.is_file():
        if looks_like_ultralytics(path):
            return UltralyticsModel(str(path), device)
        ckpt = Checkpoint.load(path)
        return from_checkpoint(ckpt, name=checkpoint_name(ckpt, path.name), device=device)
    known = ", ".join(e.name for e in list_models())
    raise ModelLoadError(f"no model named {name!r} and no checkpoint file at that path; known names: {known}")


# documented and shown as sightline.<name>, where users import them from
list_models.__module__ = "sightline"
