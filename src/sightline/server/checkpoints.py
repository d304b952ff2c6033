"""Model checkpoints uploaded to the server: received within a size limit, checked, kept by content hash.

A file is kept while a loaded model came from it: unloading (or evicting) the model deletes it, and the
folder holds at most ``max_checkpoint_files`` files (files no loaded model uses go first, oldest first),
so uploads that change one byte each time cannot fill the disk.

Only the sightline checkpoint format is accepted: it loads with ``torch.load(weights_only=True)``, so an
uploaded file never runs code on the server. Files are named by their SHA-256, never by the client.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from sightline.errors import (
    ConflictError,
    InputError,
    InvalidSettingError,
    ModelLoadError,
    PayloadTooLargeError,
    UnknownArgumentError,
)
from sightline.models.base import Model
from sightline.models.checkpoint import Checkpoint
from sightline.models.torchvision_adapter import from_checkpoint
from sightline.models.ultralytics_adapter import looks_like_ultralytics
from sightline.models.zoo import checkpoint_name
from sightline.server.config import ServerConfig
from sightline.server.manager import ModelManager

FIELDS = ("file", "device", "default")
HOW_TO = (
    "upload a file saved in sightline's checkpoint format (sightline.models.checkpoint.Checkpoint.save, see "
    "docs/models.md), or copy the file to the server and load it by path with POST /v1/models/load on a server "
    "started with SIGHTLINE_ALLOW_LOCAL_PATHS=1"
)


@dataclass
class ReceivedCheckpoint:
    """An uploaded file under a temporary name in the store, with the form's other fields."""

    path: Path
    filename: str  # the client's name for it: metadata only, never part of a path
    sha256: str
    size: int
    device: str
    default: bool


def _too_large(size: int, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the checkpoint upload is {size:,} bytes, over the limit of {limit:,} bytes (max_checkpoint_bytes)", 413)


def _as_bool(value: str, name: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise InvalidSettingError(f"form field {name!r} must be true or false, got {value!r}")


class CheckpointStore:
    """The folder the server owns for uploaded checkpoints; a temporary one is removed on ``close``."""

    def __init__(self, root: str | Path, temporary: bool = False, max_files: int = 16) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.temporary = temporary
        self.max_files = max_files
        self._lock = threading.RLock()  # reentrant: serving an upload may evict another, which calls forget()
        self._uploaded: dict[str, tuple[str, weakref.ref[Model]]] = {}  # model name -> (sha256, model) of uploads

    @classmethod
    def for_config(cls, config: ServerConfig) -> CheckpointStore:
        """``config.models_dir``, else ``models/`` in a folder workspace, else a new temp dir."""
        cap = config.max_checkpoint_files
        if config.models_dir:
            return cls(Path(config.models_dir).expanduser(), max_files=cap)
        if config.workspace and "://" not in config.workspace:
            return cls(Path(config.workspace).expanduser() / "models", max_files=cap)
        return cls(tempfile.mkdtemp(prefix="sightline-models-"), temporary=True, max_files=cap)

    async def receive(self, request: Request, max_bytes: int) -> ReceivedCheckpoint:
        """Read a multipart body (``file``, ``device``, ``default``), refusing more than ``max_bytes`` of file."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise InputError("send the checkpoint as multipart/form-data with one part named 'file'")
        # the body as a whole was held to max_bytes plus the form's framing as it arrived (server/body_limit.py)
        form = await self._parse(request)
        try:
            unknown = sorted(set(form.keys()) - set(FIELDS))
            if unknown:
                raise UnknownArgumentError(f"unknown form field(s) {', '.join(map(repr, unknown))}; expected {', '.join(FIELDS)}")
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InputError("no checkpoint: send the file as a multipart part named 'file'")
            device, default = form.get("device", "auto"), form.get("default", "false")
            if not isinstance(device, str) or not isinstance(default, str):
                raise InputError("form fields 'device' and 'default' must be text, not files")
            make_default = _as_bool(default, "default")
            size = upload.size if upload.size is not None else 0
            if size > max_bytes:
                raise _too_large(size, max_bytes)
            path, sha256, size = await run_in_threadpool(self._copy_in, upload)
            return ReceivedCheckpoint(path, upload.filename or "", sha256, size, device.strip() or "auto", make_default)
        finally:
            await form.close()

    async def _parse(self, request: Request) -> FormData:
        parser = MultiPartParser(request.headers, request.stream(), max_files=1, max_fields=len(FIELDS), max_part_size=64 * 1024)
        try:
            return await parser.parse()
        except MultiPartException as exc:
            raise InputError(f"the multipart body could not be read: {exc.message}") from None

    def _copy_in(self, upload: UploadFile) -> tuple[Path, str, int]:
        path = self.root / f".incoming-{uuid.uuid4().hex}"
        digest, size = hashlib.sha256(), 0
        upload.file.seek(0)
        try:
            with path.open("wb") as out:
                while chunk := upload.file.read(1024 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, digest.hexdigest(), size

    def keep(self, received: ReceivedCheckpoint) -> Path:
        """Move a checked upload to its content-addressed name (``<sha256>.pt``)."""
        final = self.root / f"{received.sha256}.pt"
        with self._lock:
            if final.exists():
                received.path.unlink(missing_ok=True)
                os.utime(final)  # recently used: the last to be pruned
            else:
                received.path.replace(final)
            self._prune(keep=final)
        return final

    def forget(self, name: str) -> None:
        """Model ``name`` was unloaded: delete its uploaded file unless another loaded model came from it."""
        with self._lock:
            sha, _ = self._uploaded.pop(name, ("", None))
            if sha and all(other != sha for other, _ in self._uploaded.values()):
                (self.root / f"{sha}.pt").unlink(missing_ok=True)

    def _prune(self, keep: Path) -> None:
        """Hold the folder to ``max_files`` files: delete those no loaded model uses, oldest first."""
        files = list(self.root.glob("*.pt"))
        excess = len(files) - self.max_files
        if excess <= 0:
            return
        used = {f"{sha}.pt" for sha, _ in self._uploaded.values()} | {keep.name}
        unused = sorted((p for p in files if p.name not in used), key=lambda p: p.stat().st_mtime)
        for p in unused[:excess]:
            p.unlink(missing_ok=True)

    def discard(self, received: ReceivedCheckpoint) -> None:
        received.path.unlink(missing_ok=True)

    def serve(self, manager: ModelManager, received: ReceivedCheckpoint) -> Model:
        """Load an upload and serve it, keeping the file only if that works (blocking: call from a thread).

        The same file again is a no-op; another model already loaded under that name is a 409."""
        try:
            model = load_received(received)
            with self._lock:
                try:
                    current: Model | None = manager.get(model.name).model
                except LookupError:
                    current = None
                if current is not None:
                    sha, ref = self._uploaded.get(model.name, ("", None))
                    if sha != received.sha256 or ref is None or ref() is not current:
                        raise ConflictError(
                            f"a model named {model.name!r} is already loaded; unload it first (POST /v1/models/unload) "
                            "or save the checkpoint with another meta name or file name", 409
                        )
                    model = current
                else:
                    manager.add(model)
                    self._uploaded[model.name] = (received.sha256, weakref.ref(model))
                if received.default:
                    manager.default = model.name
        except BaseException:
            self.discard(received)
            raise
        self.keep(received)
        return model

    def close(self) -> None:
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)


def _refusal(torch_message: str) -> str | None:
    """The one useful sentence of torch's long weights-only refusal (its advice to unpickle does not apply here)."""
    if "Weights only load failed" not in torch_message:
        return None
    body = torch_message.split("Check the documentation")[0]
    body = body.split("WeightsUnpickler error:")[-1] if "WeightsUnpickler error:" in body else body.split("trusted source.")[-1]
    return " ".join(body.split()).rstrip(".") or "unsupported content"


def load_received(received: ReceivedCheckpoint) -> Model:
    """Build the model from an uploaded sightline checkpoint; ``ModelLoadError`` says what is wrong and what to do."""
    shown = repr(received.filename or "the upload")
    try:
        checkpoint = Checkpoint.load(received.path)
    except ModelLoadError as exc:
        refused = _refusal(str(exc.__cause__ or ""))
        if looks_like_ultralytics(received.path):  # read from the zip listing, without unpickling anything
            reason = f"{shown} is an Ultralytics checkpoint, and loading one unpickles code from the file"
        elif refused is not None:
            reason = (f"{shown} could not be read as a sightline checkpoint (torch.load with weights_only=True, "
                      f"which never runs code from the file, refused it: {refused})")
        else:
            reason = str(exc).replace(repr(str(received.path)), shown)
        raise ModelLoadError(f"{reason}; {HOW_TO}") from None
    return from_checkpoint(checkpoint, name=checkpoint_name(checkpoint, received.filename, received.sha256[:12]), device=received.device)
