"""Uploading a prediction run into a workspace as it goes: ``predict(..., upload="iou_merge")``."""

from __future__ import annotations

import io
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

from sightline.engine.status import SessionStatus
from sightline.errors import InputError
from sightline.inputs.images import ImageDecodeError, decode_image_bytes
from sightline.inputs.items import InputItem
from sightline.prediction import Prediction
from sightline.workspace.schema import PredictionRun
from sightline.workspace.store import Workspace
from sightline.workspace.uploads import ImageUpload, UploadMode, UploadTotals, objects_of, upload_objects

UPLOAD_KWARGS = ("upload", "upload_project", "iou_merge_threshold")


class RunUploader:
    """Called by the engine for each finished prediction, before anyone can read it."""

    def __init__(
        self,
        ws: Workspace,
        mode: UploadMode,
        model_name: str,
        settings: dict[str, Any],
        threshold: float,
        project_name: str | None,
        platform_input: bool,
        dry_run: bool = False,
        into_project: int | None = None,
    ) -> None:
        if mode is not UploadMode.CREATE and not platform_input:
            raise InputError(
                f"upload={mode.value!r} changes images already in the workspace, so the input must be workspace IDs "
                "(project_id, dataset_id, image_ids or video_id); use upload='create' for other inputs"
            )
        self.ws, self.mode, self.threshold, self.dry_run = ws, mode, threshold, dry_run
        self.totals = UploadTotals()
        self.run_id: int | None = None
        self._lock = threading.Lock()
        self.project_id: int | None = None
        self.dataset_id: int | None = None
        self._videos: dict[str, int] = {}
        if dry_run:
            return  # a preview creates nothing
        if mode is UploadMode.CREATE and into_project is not None:  # a later part of one upload sent in parts
            self.project_id = ws.project(into_project).id
            self.dataset_id = ws.ensure_dataset(self.project_id, "predictions")
        elif mode is UploadMode.CREATE:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            name = project_name or f"{model_name} {stamp}"
            self.project_id = ws.create_project(name, f"predictions of {model_name}").id
            self.dataset_id = ws.create_dataset(self.project_id, "predictions").id
        with ws.transaction() as s:
            run = PredictionRun(project_id=self.project_id, model=model_name, mode=mode.value, settings=settings)
            s.add(run)
            s.flush()
            self.run_id = run.id

    def __call__(self, pred: Prediction, item: InputItem) -> None:
        if pred.error is not None:
            return
        target: dict[str, Any]
        objects = objects_of(pred, run_id=self.run_id)
        if self.mode is UploadMode.CREATE and self.dry_run:
            result = ImageUpload(added=len(objects))
            pred.upload = {"mode": self.mode.value, "run_id": None, "dry_run": True, **result.to_dict()}
            with self._lock:
                self.totals.add(result)
            return
        if self.mode is UploadMode.CREATE:
            target = self._copy_in(pred, item)
        elif pred.image_id is not None:
            target = {"image_id": pred.image_id}
        else:
            target = {"video_id": pred.video_id, "frame_idx": pred.frame_idx}
        result = upload_objects(self.ws, objects, self.mode, threshold=self.threshold, run_id=self.run_id, dry_run=self.dry_run, **target)
        pred.upload = {"mode": self.mode.value, "run_id": self.run_id, "dry_run": self.dry_run, **result.to_dict()}
        with self._lock:
            self.totals.add(result)

    def _copy_in(self, pred: Prediction, item: InputItem) -> dict[str, Any]:
        """Put the item into the new project; the prediction then carries the new IDs."""
        assert self.project_id is not None and self.dataset_id is not None
        if item.video_file is not None:  # the real file on this machine, never a client's path
            vid = self._videos.get(item.video_file)
            if vid is None:
                vid = self.ws.add_video(self.dataset_id, item.video_file, name=Path(pred.source or item.video_file).name).id
                self._videos[item.video_file] = vid
            pred.project_id, pred.dataset_id, pred.video_id = self.project_id, self.dataset_id, vid
            return {"video_id": vid, "frame_idx": pred.frame_idx}
        data = item.raw() if item.raw is not None else _png(item.image)
        name = Path(pred.image_path or pred.image_url or pred.source or "image").name or "image"
        if "." not in name:
            name += ".png"
        image = self.ws.add_image(self.dataset_id, data, name=name)
        pred.project_id, pred.dataset_id, pred.image_id = self.project_id, self.dataset_id, image.id
        return {"image_id": image.id}

    def finish(self, status: SessionStatus) -> None:
        if self.run_id is None:
            return
        with self.ws.transaction() as s:
            run = s.get(PredictionRun, self.run_id)
            run.state = status.state.value
            run.counts = self.totals.to_dict()
            run.finished_at = datetime.now(timezone.utc)


def _png(image: np.ndarray | None) -> bytes:
    if image is None:
        raise InputError("no pixels to store")
    buf = io.BytesIO()
    PILImage.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def upload_predictions(
    ws: Workspace,
    predictions: list[Prediction],
    mode: UploadMode,
    *,
    model_name: str = "review",
    threshold: float = 0.9,
    project_name: str | None = None,
    images: list[bytes | None] | None = None,
    dry_run: bool = False,
    into_project: int | None = None,
) -> tuple[UploadTotals, int | None]:
    """Upload already-made (and maybe reviewed) predictions; ``images`` gives each one's bytes for ``create``.

    ``into_project`` continues a ``create`` sent in parts: the images join the project the first part made.
    Returns the totals and the project written to (``None`` for a dry run of ``create``).
    """
    if mode is UploadMode.CREATE and not dry_run:
        _check_images(predictions, images)  # before the project is made: a refused upload leaves nothing behind
    on_platform = all(p.image_id is not None or p.video_id is not None for p in predictions)
    uploader = RunUploader(ws, mode, model_name, {}, threshold, project_name, on_platform, dry_run=dry_run, into_project=into_project)
    for k, pred in enumerate(predictions):
        data = images[k] if images is not None and k < len(images) else None
        uploader(pred, InputItem(meta={}, raw=(lambda d=data: d) if data is not None else None))
    if uploader.run_id is not None:
        from sightline.engine.status import SessionState, SessionStatus

        uploader.finish(SessionStatus(SessionState.COMPLETED, len(predictions), len(predictions), 0, 0.0, 0.0, None))
    return uploader.totals, uploader.project_id if mode is UploadMode.CREATE else (predictions[0].project_id if predictions else None)


def _check_images(predictions: list[Prediction], images: list[bytes | None] | None) -> None:
    """Every prediction of a ``create`` has bytes that decode as an image; ``InputError`` naming the first that does not."""
    for k, pred in enumerate(predictions):
        data = images[k] if images is not None and k < len(images) else None
        if data is None:
            raise InputError(f"prediction {k} ({pred.source!r}) has no image bytes to copy into a new project")
        try:
            decode_image_bytes(data)
        except ImageDecodeError as exc:
            raise InputError(f"prediction {k} ({pred.source!r}): the file sent for it is not a readable image: {exc}") from None


def prediction_bytes(pred: Prediction) -> bytes:
    """The encoded image behind a prediction: the file's own bytes, else its pixels as PNG."""
    if pred.image_path:
        with open(pred.image_path, "rb") as fh:
            return fh.read()
    return _png(pred.image)
