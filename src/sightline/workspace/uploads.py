"""Writing predictions into a workspace: ``create``, ``append``, ``replace`` and ``iou_merge``.

Each image's (or video frame's) upload is one transaction, tried again after a transient database
error: if it still fails, that image is left exactly as it was and the failure is counted with its
reason; other images go on.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sightline.errors import InvalidSettingError, NotFoundError
from sightline.prediction import Prediction
from sightline.workspace.records import Obj
from sightline.workspace.retry import retried_transaction
from sightline.workspace.schema import Annotation, Dataset, Image, RunUpload, Video
from sightline.workspace.store import Workspace


class UploadMode(str, enum.Enum):
    CREATE = "create"
    APPEND = "append"
    REPLACE = "replace"
    IOU_MERGE = "iou_merge"


def parse_mode(value: Any) -> UploadMode:
    try:
        return UploadMode(value)
    except ValueError:
        raise InvalidSettingError(f"upload must be one of 'create', 'append', 'replace', 'iou_merge', got {value!r}") from None


def parse_threshold(value: Any) -> float:
    """``iou_merge_threshold``: an int or float in [0, 1] (so 1 and 0 are accepted as ints)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSettingError(f"iou_merge_threshold must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise InvalidSettingError(f"iou_merge_threshold must be between 0 and 1, got {value!r}")
    return float(value)


@dataclass
class ImageUpload:
    """What one upload did to one image or frame."""

    added: int = 0
    replaced: int = 0
    skipped_duplicates: int = 0
    failed: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UploadTotals:
    images: int = 0
    added: int = 0
    replaced: int = 0
    skipped_duplicates: int = 0
    failed_objects: int = 0
    failed_images: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, one: ImageUpload) -> None:
        self.images += 1
        self.added += one.added
        self.replaced += one.replaced
        self.skipped_duplicates += one.skipped_duplicates
        self.failed_objects += one.failed
        if one.error:
            self.failed_images += 1
            if len(self.errors) < 20:
                self.errors.append(one.error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def objects_of(pred: Prediction, source: str = "model", run_id: int | None = None) -> list[Obj]:
    """A prediction's objects as workspace objects (masks as COCO RLE counts)."""
    d = pred.detections
    masks = d.mask
    out = []
    for i in range(len(d)):
        rle = None
        if masks is not None:
            encoded = coco_mask.encode(np.asfortranarray(np.asarray(masks[i], dtype=np.uint8)))
            rle = encoded["counts"].decode("ascii")
        out.append(
            Obj(
                class_name=pred.classes[i],
                box=tuple(float(v) for v in d.xyxy[i]),  # type: ignore[arg-type]
                mask_rle=rle,
                score=float(d.confidence[i]) if d.confidence is not None else None,
                track_id=int(d.tracker_id[i]) if d.tracker_id is not None and d.tracker_id[i] >= 0 else None,
                source=source,
                frame_idx=pred.frame_idx if pred.video_id is not None else None,
                run_id=run_id,
            )
        )
    return out


def _xywh(objs: list[Obj]) -> np.ndarray:
    return np.array([[o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]] for o in objs], dtype=np.float64)


def duplicates(new: list[Obj], existing: list[Obj], threshold: float, height: int, width: int) -> np.ndarray:
    """For each new object: does an existing object of the same class overlap it with IoU >= threshold?

    Masks are compared as masks when both objects have one, boxes as boxes otherwise; IoU is computed
    by pycocotools on RLE, per class, all pairs at once.
    """
    dup = np.zeros(len(new), dtype=bool)
    if not new or not existing:
        return dup
    for name in {o.class_name for o in new}:
        ni = [i for i, o in enumerate(new) if o.class_name == name]
        ej = [j for j, o in enumerate(existing) if o.class_name == name]
        if not ej:
            continue
        a, b = [new[i] for i in ni], [existing[j] for j in ej]
        iou = coco_mask.iou(_xywh(a).tolist(), _xywh(b).tolist(), [0] * len(b))
        iou = np.asarray(iou, dtype=np.float64).reshape(len(a), len(b))
        am = [k for k, o in enumerate(a) if o.mask_rle]
        bm = [k for k, o in enumerate(b) if o.mask_rle]
        if am and bm:
            rles_a = [{"size": [height, width], "counts": a[k].mask_rle.encode("ascii")} for k in am]
            rles_b = [{"size": [height, width], "counts": b[k].mask_rle.encode("ascii")} for k in bm]
            miou = np.asarray(coco_mask.iou(rles_a, rles_b, [0] * len(bm)), dtype=np.float64).reshape(len(am), len(bm))
            iou[np.ix_(am, bm)] = miou
        dup[ni] = iou.max(axis=1) >= threshold
    return dup


class _Preview(Exception):
    """Leaves a dry run's transaction, rolling it back, with what it would have done."""

    def __init__(self, result: ImageUpload) -> None:
        self.result = result


@dataclass(frozen=True)
class Target:
    """Where objects go: an image, or one frame of a video, and the project and size that go with it."""

    project_id: int
    height: int
    width: int
    image_id: int | None = None
    video_id: int | None = None
    frame_idx: int | None = None


def find_target(s: Session, image_id: int | None, video_id: int | None, frame_idx: int | None) -> Target:
    """The target read in the upload's own transaction (so a vanished image is a clear 404, not a half write)."""
    if image_id is not None:
        row = s.execute(select(Image.height, Image.width, Dataset.project_id).join(Dataset).where(Image.id == image_id)).first()
        if row is None:
            raise NotFoundError(f"no image {image_id} in this workspace", 404)
    else:
        row = s.execute(select(Video.height, Video.width, Dataset.project_id).join(Dataset).where(Video.id == video_id)).first()
        if row is None:
            raise NotFoundError(f"no video {video_id} in this workspace", 404)
    height, width, project_id = row
    return Target(project_id, height, width, image_id, video_id, frame_idx)


def write_objects(s: Session, ws: Workspace, objects: list[Obj], mode: UploadMode, target: Target, *, threshold: float = 0.9,
                  run_id: int | None = None) -> ImageUpload:
    """Write ``objects`` onto ``target`` in ``mode`` inside the caller's transaction ``s``."""
    image_id, video_id, frame_idx = target.image_id, target.video_id, target.frame_idx
    shapes = {o.class_name: ("mask" if o.mask_rle else "box") for o in objects}
    class_ids = ws.ensure_classes(s, target.project_id, shapes)
    result = ImageUpload()
    keep = objects
    if mode is UploadMode.REPLACE:
        result.replaced = s.execute(delete(Annotation).where(*_on(target))).rowcount
    elif mode is UploadMode.IOU_MERGE:
        existing = ws._objects(s, image_id=image_id, video_id=video_id, frame_idx=frame_idx)
        dup = duplicates(objects, existing, threshold, target.height, target.width)
        keep = [o for o, d in zip(objects, dup) if not d]
        result.skipped_duplicates = int(dup.sum())
    for o in keep:
        o.frame_idx = frame_idx if video_id is not None else None
    s.add_all(ws.rows(keep, class_ids, image_id=image_id, video_id=video_id, run_id=run_id))
    result.added = len(keep)
    return result


def _on(target: Target) -> list[Any]:
    if target.image_id is not None:
        return [Annotation.image_id == target.image_id]
    return [Annotation.video_id == target.video_id, Annotation.frame_idx == target.frame_idx]


def run_wrote_to(s: Session, target: Target, run_id: int | None) -> bool:
    """Does ``target`` hold objects of run ``run_id``? (Did an upload whose acknowledgement was lost commit?)"""
    return run_id is not None and s.scalar(select(Annotation.id).where(*_on(target), Annotation.run_id == run_id).limit(1)) is not None


def record_upload(s: Session, run_id: int, position: int, result: ImageUpload, **ids: Any) -> None:
    """Note in ``s`` (the upload's own transaction) that run ``run_id`` uploaded the item at ``position``."""
    s.add(RunUpload(run_id=run_id, position=position, result={"upload": result.to_dict(), **ids}))


def upload_recorded(s: Session, run_id: int, position: int) -> bool:
    return s.get(RunUpload, (run_id, position)) is not None


def failure_reason(exc: BaseException) -> str:
    """Why one image's upload failed, in words: no SQL, no server paths."""
    if isinstance(exc, DBAPIError):
        orig = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else exc.__class__.__name__
        return f"database error: {orig}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or exc.__class__.__name__}: {Path(str(exc.filename)).name}"
    return f"{exc.__class__.__name__}: {exc}"


def upload_objects(
    ws: Workspace,
    objects: list[Obj],
    mode: UploadMode,
    *,
    image_id: int | None = None,
    video_id: int | None = None,
    frame_idx: int | None = None,
    threshold: float = 0.9,
    run_id: int | None = None,
    dry_run: bool = False,
    position: int | None = None,
    record: dict[str, Any] | None = None,
) -> ImageUpload:
    """Write ``objects`` onto one image (or one video frame) in ``mode``, in one transaction.

    A transient database error (a dropped connection, SQLite busy) tries the whole transaction again
    (``workspace/retry.py``); what still fails is this image's ``error``, and the image is as it was.
    ``dry_run`` does all the same work, then rolls the transaction back: a preview of the counts.
    ``position`` (with ``run_id``): the item's cursor position in its session; the upload is recorded
    (``RunUpload``, with the IDs in ``record``) in the same transaction.
    """
    recording = position is not None and run_id is not None and not dry_run

    def body(s: Session) -> ImageUpload:
        target = find_target(s, image_id, video_id, frame_idx)
        result = write_objects(s, ws, objects, mode, target, threshold=threshold, run_id=run_id)
        if dry_run:
            s.flush()  # constraint errors show up in a preview too
            raise _Preview(result)
        if recording:
            record_upload(s, run_id, position, result, **(record or {}))  # type: ignore[arg-type]
        return result

    def landed(s: Session, result: ImageUpload) -> bool:
        if recording:
            return upload_recorded(s, run_id, position)  # type: ignore[arg-type]
        return result.added > 0 and run_wrote_to(s, find_target(s, image_id, video_id, frame_idx), run_id)

    where = f"image {image_id}" if image_id is not None else f"video {video_id} frame {frame_idx}"
    try:
        return retried_transaction(ws.transaction, body, f"upload to {where}", landed)
    except _Preview as preview:
        return preview.result
    except Exception as exc:  # noqa: BLE001 (rolled back: this image is exactly as it was)
        return ImageUpload(failed=len(objects), error=failure_reason(exc))


UploadMode.__module__ = "sightline"  # documented and shown where users import it from
