"""The three stages of a Ray Data job, run on the cluster's workers: decode (tasks), predict (an actor
pool holding the model), record (an actor pool writing uploads and results to the database).

Rows travel as plain columns: ``index`` (the image's place in the input), ``meta`` (JSON: source and
workspace IDs), ``image`` (RGB pixels, after decode), ``error``, then ``pred`` (the result as the server
sends it, zlib'd JSON) and finally ``position`` (its cursor position, -1 when not recorded), ``failed``
and ``upload`` (JSON: what the upload did).
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import zlib
from typing import Any

import numpy as np

from sightline.inputs.images import decode_image_bytes
from sightline.prediction import Prediction
from sightline.raydata.ledger import Ledger, Refused
from sightline.workspace.blobs import open_blobs

log = logging.getLogger("sightline.raydata")
NO_IMAGE = np.zeros((0, 0, 3), dtype=np.uint8)  # a decode failure's placeholder (the column needs an array)


@functools.lru_cache(maxsize=4)
def _blobs(location: str, options: str) -> Any:
    return open_blobs(location, json.loads(options))  # one store (one S3 client) per worker process


def decode(batch: dict[str, np.ndarray], blobs: str, blob_options: str = "{}") -> dict[str, Any]:
    """Read each image's blob and decode it; a failure fails that image only (its ``error``)."""
    store = _blobs(blobs, blob_options)
    images, errors = [], []
    for digest in batch["hash"]:
        try:
            images.append(decode_image_bytes(store.read(str(digest))))
            errors.append("")
        except Exception as exc:  # noqa: BLE001 (a missing blob or bad bytes: this image only)
            images.append(NO_IMAGE)
            errors.append(f"reading the image failed: {exc}" if str(exc) else exc.__class__.__name__)
    return {"index": batch["index"], "meta": batch["meta"], "image": _ragged(images), "error": np.array(errors, dtype=object)}


def _ragged(images: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(images), dtype=object)  # images of different sizes: one object per row
    for k, im in enumerate(images):
        out[k] = im
    return out


def _encode(d: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(d).encode(), 1)


class Predict:
    """One copy of the model per actor. Its ``InferenceWorker`` runs the batch and, when the batch raises,
    each image apart, so a poisoned image fails only itself (as in a session on one machine)."""

    def __init__(self, model: Any, settings: Any, device: str) -> None:
        from sightline.engine.worker import InferenceWorker
        from sightline.models.base import Model
        from sightline.models.zoo import load_model

        if isinstance(model, Model):
            if device != model.device:
                model.to_device(device)
            self.model = model
        else:
            self.model = load_model(model, device)
        self.settings = settings
        self.worker = InferenceWorker(self.model, max_batch_size=max(1, settings.batch_size), batch_wait_ms=0.0)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        from sightline.engine.worker import prediction_of

        images = list(batch["image"])
        good = [k for k, err in enumerate(batch["error"]) if not err]
        results = dict(zip(good, self.worker.predict([images[k] for k in good], self.settings)))
        preds = []
        for k, meta_json in enumerate(batch["meta"]):
            meta = {**json.loads(meta_json), "index": int(batch["index"][k])}
            if k in results:
                pred = prediction_of(results[k], images[k], **meta)
            else:
                pred = Prediction.failed(str(batch["error"][k]), **meta)
            # pickled, not the wire's JSON (which rounds scores): the upload gets the model's exact values,
            # as in a run without Ray; both ends are this job's own processes
            preds.append(pickle.dumps(pred))
        return {"index": batch["index"], "pred": np.array(preds, dtype=object)}


class Record:
    """Writes each result with its upload in one transaction (``Ledger.record``); its own database engine."""

    def __init__(self, database: str, blobs: str, blob_options: str, sid: str, owner: str, upload: dict[str, Any] | None,
                 lease: float | None = None) -> None:
        from sightline.workspace.store import Workspace
        from sightline.workspace.uploads import parse_mode

        self.ws = Workspace(database, blobs=blobs, blob_options=json.loads(blob_options))
        self.ledger = Ledger(self.ws.engine, sid, owner, lease)  # the driver's lease: actors do not share its environment
        self.upload = upload
        self.mode = parse_mode(upload["mode"]) if upload else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        positions, failed, uploads = [], [], []
        for data in batch["pred"]:
            pred = pickle.loads(data)  # noqa: S301 (written by this job's Predict actors)
            try:
                position, upload = self._record(pred)
            except Refused:  # stopped or taken over: this and the rest of the batch are not this job's anymore
                position, upload = -1, None
            positions.append(position)
            failed.append(pred.error is not None)
            uploads.append(json.dumps(upload))
        return {"index": batch["index"], "position": np.array(positions, dtype=np.int64), "failed": np.array(failed),
                "upload": np.array(uploads, dtype=object)}

    def _record(self, pred: Prediction) -> tuple[int, dict[str, Any] | None]:
        """Upload and record ``pred``; an upload that fails leaves the image as it was and is recorded as failed."""
        from sqlalchemy.exc import IntegrityError

        from sightline.upload_result import ImageUpload
        from sightline.workspace.uploads import failure_reason, objects_of

        if self.mode is None or self.upload is None or pred.error is not None or pred.image_id is None:
            return self._commit(pred, None), None
        objects = objects_of(pred, run_id=self.upload["run_id"])
        for attempt in range(3):
            try:
                return self._commit(pred, objects), pred.upload
            except Refused:
                raise
            except IntegrityError:  # two actors adding the project's same new class at once: the loser tries again
                if attempt < 2:
                    continue
                reason = "the project's classes changed during the upload"
            except Exception as exc:  # noqa: BLE001 (rolled back: the image is as it was; its result still counts)
                log.warning("upload of %s failed", pred.source, exc_info=True)
                reason = failure_reason(exc)
            break
        pred.upload = {**self._upload_dict(), **ImageUpload(failed=len(objects), error=reason).to_dict()}
        return self._commit(pred, None), pred.upload

    def _upload_dict(self) -> dict[str, Any]:
        assert self.mode is not None and self.upload is not None
        return {"mode": self.mode.value, "run_id": self.upload["run_id"], "dry_run": False}

    def _commit(self, pred: Prediction, objects: list[Any] | None) -> int:
        """One transaction: the objects onto the image (unless ``None``), then the result row."""
        from sqlalchemy import select

        from sightline.workspace.retry import retried_transaction
        from sightline.workspace.schema import StoredResult
        from sightline.workspace.uploads import find_target, write_objects

        def body(s: Any) -> int:
            if objects is not None:
                assert self.mode is not None and self.upload is not None
                target = find_target(s, pred.image_id, None, None)
                result = write_objects(s, self.ws, [o for o in objects], self.mode, target, threshold=self.upload["threshold"],
                                       run_id=self.upload["run_id"])
                pred.upload = {**self._upload_dict(), **result.to_dict()}
            position = self.ledger.next_position(s)
            # a result's index is its cursor position: readers (the SDK over SSE) count on index order,
            # and a job records images in the order they finish (``image_id`` says which one it is)
            pred.index = position
            sent[:] = [_encode(pred.to_dict())]
            self.ledger.add(s, position, sent[0], pred.error is not None)
            return position

        def landed(s: Any, position: int) -> bool:  # the acknowledgement was lost: is our row there?
            return s.scalar(select(StoredResult.data).where(StoredResult.session_id == self.ledger.sid,
                                                            StoredResult.position == position)) == sent[0]

        sent: list[bytes] = []

        return retried_transaction(self.ws.transaction, body, f"recording {pred.source}", landed)
