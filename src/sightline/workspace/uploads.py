"""Writing predictions into a workspace: ``create``, ``append``, ``replace`` and ``iou_merge``.

Each image's (or video frame's) upload is one transaction, tried again after a transient database
error: if it still fails, that image is left exactly as it was and the failure is counted with its
reason; other images go on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from pycocotools import mask as coco_mask
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sightline.errors import InvalidSettingError, NotFoundError
from sightline.geometry import counts_text, encoded_rle
from sightline.prediction import Prediction
from sightline.upload_result import ImageUpload
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


def objects_of(pred: Prediction, source: str = "model", run_id: int | None = None) -> list[Obj]:
    """A prediction's objects as workspace objects (masks as COCO RLE counts)."""
    d = pred.detections
    masks = d.mask
    out = []
    for i in range(len(d)):
        rle = None
        if masks is not None:
            encoded = coco_mask.encode(np.asfortranarray(np.asarray(masks[i], dtype=np.uint8)))
            rle = counts_text(encoded)
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
    """For each new object: does an existing object of the same class overlap it with IoU >= threshold?"""
    best, _ = best_matches(new, existing, height, width)
    return best >= threshold if len(best) else np.zeros(0, dtype=bool)


def best_matches(new: list[Obj], existing: list[Obj], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """For each new object: the highest IoU with an existing object of the same class (-1.0 when there is
    none) and that object's position in ``existing`` (-1 when there is none).

    Masks are compared as masks when both objects have one, boxes as boxes otherwise; IoU is computed
    by pycocotools on RLE, per class, all pairs at once.
    """
    best = np.full(len(new), -1.0, dtype=np.float64)
    which = np.full(len(new), -1, dtype=np.int64)
    if not new or not existing:
        return best, which
    for name in {o.class_name for o in new}:
        ni = [i for i, o in enumerate(new) if o.class_name == name]
        ej = [j for j, o in enumerate(existing) if o.class_name == name]
        if not ej:
            continue
        a, b = [new[i] for i in ni], [existing[j] for j in ej]
        iou = coco_mask.iou(_xywh(a).tolist(), _xywh(b).tolist(), [0] * len(b))
        iou = np.asarray(iou, dtype=np.float64).reshape(len(a), len(b))
        masked_a = {k: encoded_rle(o.mask_rle, height, width) for k, o in enumerate(a) if o.mask_rle}
        masked_b = {k: encoded_rle(o.mask_rle, height, width) for k, o in enumerate(b) if o.mask_rle}
        am, bm = list(masked_a), list(masked_b)
        if am and bm:
            rles_a, rles_b = list(masked_a.values()), list(masked_b.values())
            miou = np.asarray(coco_mask.iou(rles_a, rles_b, [0] * len(bm)), dtype=np.float64).reshape(len(am), len(bm))
            iou[np.ix_(am, bm)] = miou
        best[ni] = iou.max(axis=1)
        which[ni] = np.asarray(ej)[iou.argmax(axis=1)]
    return best, which


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
                  run_id: int | None = None, details: bool = False) -> ImageUpload:
    """Write ``objects`` onto ``target`` in ``mode`` inside the caller's transaction ``s``; ``details``: the
    result says what happens to each object (``ImageUpload.objects``), as decided here."""
    image_id, video_id, frame_idx = target.image_id, target.video_id, target.frame_idx
    shapes = {o.class_name: ("mask" if o.mask_rle else "box") for o in objects}
    class_ids = ws.ensure_classes(s, target.project_id, shapes)
    result = ImageUpload()
    keep = objects
    if details:
        result.objects = [{"action": "added", "iou": None, "existing_id": None} for _ in objects]
    if mode is UploadMode.REPLACE:
        # a DELETE's result is a CursorResult (with rowcount); Session.execute is typed for any statement
        result.replaced = cast(CursorResult[Any], s.execute(delete(Annotation).where(*_on(target)))).rowcount
    elif mode is UploadMode.IOU_MERGE:
        existing = ws._objects(s, image_id=image_id, video_id=video_id, frame_idx=frame_idx)
        best, which = best_matches(objects, existing, target.height, target.width)
        dup = best >= threshold if len(best) else np.zeros(0, dtype=bool)
        keep = [o for o, d in zip(objects, dup) if not d]
        result.skipped_duplicates = int(dup.sum())
        for k, entry in enumerate(result.objects or []):
            if which[k] >= 0 and best[k] > 0:  # an overlap to name
                entry.update(action="duplicate" if dup[k] else "added", iou=round(float(best[k]), 4), existing_id=existing[which[k]].id)
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
    details: bool = False,
    position: int | None = None,
    record: dict[str, Any] | None = None,
) -> ImageUpload:
    """Write ``objects`` onto one image (or one video frame) in ``mode``, in one transaction.

    A transient database error (a dropped connection, SQLite busy) tries the whole transaction again
    (``workspace/retry.py``); what still fails is this image's ``error``, and the image is as it was.
    ``dry_run`` does all the same work, then rolls the transaction back: a preview of the counts (and, with
    ``details``, of what happens to each object).
    ``position`` (with ``run_id``): the item's cursor position in its session; the upload is recorded
    (``RunUpload``, with the IDs in ``record``) in the same transaction.
    """
    recording = position is not None and run_id is not None and not dry_run

    def body(s: Session) -> ImageUpload:
        target = find_target(s, image_id, video_id, frame_idx)
        result = write_objects(s, ws, objects, mode, target, threshold=threshold, run_id=run_id, details=details)
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
