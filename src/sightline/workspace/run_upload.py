"""Uploading a prediction run into a workspace as it goes: ``predict(..., upload="iou_merge")``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sightline.engine.status import SessionStatus
from sightline.errors import InputError, InsufficientStorageError
from sightline.inputs.images import ImageDecodeError, decode_image_bytes
from sightline.inputs.items import InputItem
from sightline.prediction import Prediction, png_bytes
from sightline.upload_result import ImageUpload, UploadTotals
from sightline.workspace.names import MAX_NAME_BYTES, valid_name
from sightline.workspace.records import Obj
from sightline.workspace.retry import retried_transaction, with_retries
from sightline.workspace.schema import Dataset, Image, PredictionRun, Project, RunUpload
from sightline.workspace.store import Workspace
from sightline.workspace.uploads import (
    Target,
    UploadMode,
    failure_reason,
    objects_of,
    record_upload,
    upload_objects,
    upload_recorded,
    write_objects,
)

log = logging.getLogger("sightline.workspace")



class RunUploader:
    """Called by the engine for each finished prediction, before anyone can read it.

    Each image is one unit: for ``create``, its bytes go to the blob folder, then its row and its objects
    are one transaction; for the other modes its objects are one transaction. A transient database
    error tries the unit again (``workspace/retry.py``); what still fails (a database error, a file that
    vanished, bytes that are no image) fails that image only: its prediction's ``upload`` carries
    ``error`` and the run goes on. The run record (``prediction_runs``) is final once the run is:
    ``finish`` on every end of a session, ``abandon`` when a session never starts.

    A blob written for an image whose transaction then failed stays in the blob folder unreferenced:
    blobs are named by their content, so a retry (or any later image with the same bytes) reuses it.
    """

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
        run_id: int | None = None,
        record_positions: bool = False,
    ) -> None:
        """``run_id`` continues that run record (a resumed session): no new run, nor project, is made.

        ``record_positions`` (a server session, which can be resumed): each upload is recorded by the item's
        cursor position (``pred.index``) in the image's own transaction (``RunUpload``). Continuing a run, an
        item already recorded is not uploaded again: its prediction gets the recorded outcome and IDs. The
        run's totals then start from what its records say, so its record counts the whole run."""
        if mode is not UploadMode.CREATE and not platform_input:
            raise InputError(
                f"upload={mode.value!r} changes images already in the workspace, so the input must be workspace IDs "
                "(project_id, dataset_id, image_ids or video_id); use upload='create' for other inputs"
            )
        model_name = valid_name(model_name, "model", path_safe=False)
        self.ws, self.mode, self.threshold, self.dry_run = ws, mode, threshold, dry_run
        self.totals = UploadTotals()
        self.run_id: int | None = None
        self._lock = threading.Lock()
        self.project_id: int | None = None
        self.dataset_id: int | None = None
        self._made_project = False
        self.full_disk_raises = False  # True: a full disk ends the upload (a 507) instead of failing one image
        self.details = False  # True: each prediction's ``upload`` says what happened to each of its objects
        self._videos: dict[str, int] = {}
        self.record_positions = record_positions and not dry_run
        self._recorded: dict[int, dict[str, Any]] = {}  # a continued run's uploads by position, not yet met again
        if dry_run:
            if mode is UploadMode.CREATE and into_project is None and project_name is not None:
                ws.check_new_project_name(project_name)  # a preview says what the upload would say of the name
            return  # a preview creates nothing
        if mode is UploadMode.CREATE and into_project is not None:  # a later part of one upload sent in parts
            self.project_id = ws.project(into_project).id
            self.dataset_id = ws.ensure_dataset(self.project_id, "predictions")
        elif mode is UploadMode.CREATE:
            name = valid_name(project_name, "project name") if project_name is not None else _default_project_name(model_name)
            self.project_id, self.dataset_id, self.run_id = self._new_project(name, model_name, settings)
            self._made_project = True
            return
        if run_id is not None:  # a resumed session goes on writing to its run record
            retried_transaction(ws.transaction, lambda s: self._continue_run(s, run_id), "continuing a run record")
            self.run_id = run_id
            if self.record_positions:
                self._load_records()
            return
        self.run_id = retried_transaction(ws.transaction, lambda s: self._new_run(s, model_name, settings), "starting a run record")

    @staticmethod
    def _continue_run(s: Session, run_id: int) -> None:
        run = s.get(PredictionRun, run_id)
        if run is None:
            raise InputError(f"run record {run_id} is gone: the session cannot go on uploading")
        run.state = "running"

    def _load_records(self) -> None:
        """A continued run's recorded uploads: met again, they are not repeated; all of them count in the totals."""

        def read(s: Session) -> dict[int, dict[str, Any]]:
            return dict(s.execute(select(RunUpload.position, RunUpload.result).where(RunUpload.run_id == self.run_id)).tuples().all())

        self._recorded = with_retries(lambda: _in(self.ws, read), f"reading the uploads of run {self.run_id}")
        for rec in self._recorded.values():
            self.totals.add(ImageUpload(**rec["upload"]))
            if rec.get("video_file") is not None:
                self._videos[rec["video_file"]] = rec["video_id"]

    def _new_run(self, s: Session, model_name: str, settings: dict[str, Any]) -> int:
        run = PredictionRun(project_id=self.project_id, model=model_name, mode=self.mode.value, settings=settings)
        s.add(run)
        s.flush()
        return run.id

    def _new_project(self, name: str, model_name: str, settings: dict[str, Any]) -> tuple[int, int, int]:
        """The project, its dataset and the run record: one transaction, so a failure leaves no empty project."""

        def body(s: Session) -> tuple[int, int, int]:
            if s.scalar(select(Project.id).where(Project.name == name)) is not None:
                raise InputError(f"a project named {name!r} already exists")
            project = Project(name=name, description=f"predictions of {model_name}")
            s.add(project)
            s.flush()
            dataset = Dataset(project_id=project.id, name="predictions")
            s.add(dataset)
            s.flush()
            self.project_id = project.id
            return project.id, dataset.id, self._new_run(s, model_name, settings)

        def landed(s: Session, ids: tuple[int, int, int]) -> bool:
            return s.scalar(select(PredictionRun.id).where(PredictionRun.id == ids[2], PredictionRun.project_id == ids[0])) is not None

        return retried_transaction(self.ws.transaction, body, f"creating project {name!r}", landed)

    def __call__(self, pred: Prediction, item: InputItem) -> None:
        """Upload one prediction; never raises: a failure is this prediction's ``upload["error"]``."""
        if pred.error is not None:
            return
        position = pred.index if self.record_positions and self.run_id is not None else None
        if position is not None and position in self._recorded:  # uploaded before the interruption: not again
            self._restore(pred, self._recorded.pop(position))
            return
        objects = objects_of(pred, run_id=self.run_id)
        try:
            if self.mode is UploadMode.CREATE and self.dry_run:
                result = ImageUpload(added=len(objects))
                if self.details:
                    result.objects = [{"action": "added", "iou": None, "existing_id": None} for _ in objects]
            elif self.mode is UploadMode.CREATE:
                result = self._copy_in(pred, item, objects, position)
            elif pred.image_id is not None:
                result = self._upload(objects, position, image_id=pred.image_id)
            else:
                result = self._upload(objects, position, video_id=pred.video_id, frame_idx=pred.frame_idx)
        except InsufficientStorageError as exc:
            if self.full_disk_raises:
                raise
            result = ImageUpload(failed=len(objects), error=str(exc))
        except Exception as exc:  # anything unforeseen fails this image, never the run
            log.warning("upload of %s failed", pred.source, exc_info=True)
            result = ImageUpload(failed=len(objects), error=failure_reason(exc))
        pred.upload = {"mode": self.mode.value, "run_id": self.run_id, "dry_run": self.dry_run, **result.to_dict()}
        with self._lock:
            self.totals.add(result)

    def _restore(self, pred: Prediction, rec: dict[str, Any]) -> None:
        """A recorded upload's outcome on the prediction made again for its item (counted in the totals already)."""
        for key in ("project_id", "dataset_id", "image_id", "video_id"):
            if rec.get(key) is not None:
                setattr(pred, key, rec[key])
        pred.upload = {"mode": self.mode.value, "run_id": self.run_id, "dry_run": False, **rec["upload"]}

    def _upload(self, objects: list[Obj], position: int | None, record: dict[str, Any] | None = None, **target: Any) -> ImageUpload:
        return upload_objects(self.ws, objects, self.mode, threshold=self.threshold, run_id=self.run_id, dry_run=self.dry_run,
                              details=self.details, position=position, record=record, **target)

    def _copy_in(self, pred: Prediction, item: InputItem, objects: list[Obj], position: int | None) -> ImageUpload:
        """Put the item and its objects into the new project; the prediction then carries the new IDs."""
        project_id, dataset_id = self.project_id, self.dataset_id  # set for 'create'; bound here for the closures below
        assert project_id is not None and dataset_id is not None
        if item.video_file is not None:  # the real file on this machine, never a client's path
            try:
                vid = self._video(item.video_file, Path(pred.source or item.video_file).name)
            except Exception as exc:  # noqa: BLE001 (any failure fails this video's frames only)
                return ImageUpload(failed=len(objects), error=f"storing the video failed: {failure_reason(exc)}")
            ids = {"project_id": self.project_id, "dataset_id": self.dataset_id, "video_id": vid}
            result = self._upload(objects, position, {**ids, "video_file": item.video_file}, video_id=vid, frame_idx=pred.frame_idx)
            if result.error is None:
                pred.project_id, pred.dataset_id, pred.video_id = self.project_id, self.dataset_id, vid
            return result
        try:
            data = item.raw() if item.raw is not None else png_bytes(item.image)
            name = Path(pred.image_path or pred.image_url or pred.source or "image").name or "image"
            if "." not in name:
                name += ".png"
            name = valid_name(name, "image name")
            pixels = decode_image_bytes(data)  # the file may have changed since it was predicted
            digest = self.ws.blobs.put(data)  # before the transaction: an orphan if it fails, reused by a retry
        except InsufficientStorageError:
            raise  # the caller's to decide (see __call__)
        except Exception as exc:  # noqa: BLE001 (a vanished file, bad bytes: this image only)
            return ImageUpload(failed=len(objects), error=failure_reason(exc))
        height, width = pixels.shape[:2]
        chosen: list[str] = []

        def body(s: Session) -> tuple[int, ImageUpload]:
            row = self.ws.new_image_row(s, dataset_id, name, width, height, digest, len(data))
            chosen[:] = [row.name]
            target = Target(project_id, height, width, image_id=row.id)
            result = write_objects(s, self.ws, objects, self.mode, target, threshold=self.threshold, run_id=self.run_id,
                                   details=self.details)
            if position is not None:
                record_upload(s, self.run_id, position, result, project_id=project_id, dataset_id=dataset_id, image_id=row.id)  # type: ignore[arg-type]
            return row.id, result

        def landed(s: Session, value: tuple[int, ImageUpload]) -> bool:  # the row, by the name its try chose
            if position is not None:
                return upload_recorded(s, self.run_id, position)  # type: ignore[arg-type]
            found = s.scalar(select(Image.id).where(Image.dataset_id == dataset_id, Image.name == chosen[0], Image.hash == digest))
            return found == value[0]

        try:
            image_id, result = retried_transaction(self.ws.transaction, body, f"storing image {name!r}", landed)
        except Exception as exc:  # noqa: BLE001 (rolled back: neither the image nor its objects are stored)
            return ImageUpload(failed=len(objects), error=failure_reason(exc))
        pred.project_id, pred.dataset_id, pred.image_id = self.project_id, self.dataset_id, image_id
        return result

    def _video(self, path: str, name: str) -> int:
        """The video's id in the new project, stored on its first frame (and tried again on a later one if that failed)."""
        vid = self._videos.get(path)
        dataset_id = self.dataset_id
        if vid is None:
            assert dataset_id is not None
            vid = with_retries(lambda: self.ws.add_video(dataset_id, path, name=name).id, f"storing video {name!r}")
            self._videos[path] = vid
        return vid

    def finish(self, status: SessionStatus) -> None:
        """Make the run record final: the session's end state and the totals."""
        self._close(status.state.value, self.totals.to_dict())

    def abandon(self, reason: str) -> None:
        """The session this uploader was made for never ran: its run record fails, and an empty project it made goes."""
        if self.run_id is None:
            return

        def drop(s: Session) -> None:
            project = s.get(Project, self.project_id)
            if project is not None:
                s.delete(project)

        try:  # called while another error goes up: this one only goes to the log
            self._close("failed", {**self.totals.to_dict(), "error": reason})
            if self._made_project and self.totals.images == 0:
                retried_transaction(self.ws.transaction, drop, f"removing empty project {self.project_id}")
        except Exception:
            log.warning("run %s: could not abandon it cleanly", self.run_id, exc_info=True)

    def _close(self, state: str, counts: dict[str, Any]) -> None:
        if self.run_id is None:
            return

        def body(s: Session) -> None:
            run = s.get(PredictionRun, self.run_id)
            if run is not None:
                run.state, run.counts, run.finished_at = state, counts, datetime.now(UTC)

        retried_transaction(self.ws.transaction, body, f"finishing run {self.run_id}")


def _in(ws: Workspace, read: Callable[[Session], Any]) -> Any:
    with ws.transaction() as s:
        return read(s)


def _default_project_name(model_name: str) -> str:
    """``<model> <UTC time>``, the model's name shortened so the whole fits the name limit."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    room = MAX_NAME_BYTES - len(stamp) - 1
    short = model_name.encode("utf-8")[:room].decode("utf-8", "ignore").strip()
    return f"{short} {stamp}"


def upload_predictions(
    ws: Workspace,
    predictions: list[Prediction],
    mode: UploadMode,
    *,
    model_name: str = "review",
    threshold: float = 0.9,
    project_name: str | None = None,
    images: Sequence[bytes | None] | None = None,
    dry_run: bool = False,
    into_project: int | None = None,
    video_file: str | None = None,
    details: bool = False,
) -> tuple[UploadTotals, int | None]:
    """Upload already-made (and maybe reviewed) predictions; ``images`` gives each one's bytes for ``create``.

    ``video_file``: the video the predictions' frames come from; ``create`` stores it once as a video with
    each frame's objects (track ids included), as a run with ``upload="create"`` does.

    ``details``: each prediction's ``upload`` also says what happens to each of its objects (``ImageUpload.objects``).

    ``into_project`` continues a ``create`` sent in parts: the images join the project the first part made.
    Returns the totals and the project written to (``None`` for a dry run of ``create``).
    """
    if mode is UploadMode.CREATE and not dry_run and video_file is None:
        _check_images(predictions, images)  # before the project is made: a refused upload leaves nothing behind
    on_platform = all(p.image_id is not None or p.video_id is not None for p in predictions)
    for k, pred in enumerate(predictions):  # checked before anything is written
        if video_file is not None:
            if pred.frame_idx is None:
                raise InputError(f"prediction {k} ({pred.source!r}) is not a frame of the video sent with it (no frame_idx)")
    uploader = RunUploader(ws, mode, model_name, {}, threshold, project_name, on_platform, dry_run=dry_run, into_project=into_project)
    uploader.full_disk_raises = True  # the caller waits for the answer: a full disk is its 507, not one image's failure
    uploader.details = details
    state = "interrupted"  # what a KeyboardInterrupt or a thread's exit leaves
    try:
        for k, pred in enumerate(predictions):
            if video_file is not None:
                uploader(pred, InputItem(meta={}, video_file=video_file))
                continue
            data = images[k] if images is not None and k < len(images) else None
            uploader(pred, InputItem(meta={}, raw=_returning(data) if data is not None else None))
        state = "completed"
    except Exception:
        state = "failed"
        raise
    finally:  # the run record is final on every path
        try:
            uploader._close(state, uploader.totals.to_dict())
        except Exception:  # the uploads are in; only the record's end is missing, and the log says so
            log.warning("run %s: could not record its end (%s)", uploader.run_id, state, exc_info=True)
    return uploader.totals, uploader.project_id if mode is UploadMode.CREATE else (predictions[0].project_id if predictions else None)


def _returning(data: bytes) -> Callable[[], bytes]:
    """``data`` as an ``InputItem.raw``: bound now, not when it is called."""
    return lambda: data


def _check_images(predictions: list[Prediction], images: Sequence[bytes | None] | None) -> None:
    """Every prediction of a ``create`` has bytes that decode as an image; ``InputError`` naming the first that does not."""
    for k, pred in enumerate(predictions):
        data = images[k] if images is not None and k < len(images) else None
        if data is None:
            raise InputError(f"prediction {k} ({pred.source!r}) has no image bytes to copy into a new project")
        try:
            decode_image_bytes(data)
        except ImageDecodeError as exc:
            raise InputError(f"prediction {k} ({pred.source!r}): the file sent for it is not a readable image: {exc}") from None
