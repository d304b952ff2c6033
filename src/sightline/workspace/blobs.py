"""Content-addressed blobs: bytes stored once under their sha256, written atomically.

Two stores with one interface: a local folder (the default) and any fsspec URL (``s3://bucket/prefix``,
``gs://…``, ``file:///shared/path``), so that every node of a cluster reads the same blobs.
``open_blobs(location)`` picks the store from the location.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from sightline.errors import InsufficientStorageError

# the disk or the user's quota is full, or the file is over the file system's size limit
NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def no_room_error(exc: OSError, what: str) -> InsufficientStorageError | None:
    """A clear 507 error for a write that failed for lack of room, else ``None`` (re-raise the original)."""
    if exc.errno not in NO_ROOM:
        return None
    return InsufficientStorageError(f"no space left to store {what}: the server's disk or quota is full ({os.strerror(exc.errno)})", 507)


def _key(digest: str) -> str:
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


class Blobs(Protocol):
    """What the workspace needs of a blob store."""

    location: str  # what ``open_blobs`` opens again (on another process or node)
    options: dict[str, Any]  # with these file-system options

    def put(self, data: bytes) -> str: ...
    def put_file(self, path: str | Path) -> str: ...
    def read(self, digest: str) -> bytes: ...
    def path(self, digest: str) -> Path: ...
    def has_marker(self, name: str) -> bool: ...
    def set_marker(self, name: str, text: str) -> None: ...


class BlobStore:
    """Blobs in a local folder (``root/ab/cd/abcd…``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.location = str(self.root.resolve())
        self.options: dict[str, Any] = {}

    def path(self, digest: str) -> Path:
        return self.root / _key(digest)

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 hex digest. Storing the same bytes twice costs nothing."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            tmp: str | None = None
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target)  # atomic: readers never see half a file
            except BaseException as exc:
                if tmp is not None:
                    Path(tmp).unlink(missing_ok=True)  # never leave half a file behind
                if isinstance(exc, OSError) and (full := no_room_error(exc, f"{len(data):,} bytes")) is not None:
                    raise full from None
                raise
        return digest

    def put_file(self, path: str | Path) -> str:
        return self.put(Path(path).read_bytes())

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def has_marker(self, name: str) -> bool:
        return (self.root / f".{name}").exists()

    def set_marker(self, name: str, text: str) -> None:
        (self.root / f".{name}").write_text(text)


class FsspecBlobStore:
    """Blobs under an fsspec URL. Object stores write whole objects at once, so readers never see half a
    blob; a local copy is made only for what needs a file (``path``: a video for the decoder).

    Options for the file system (an S3 endpoint, credentials) come from ``SIGHTLINE_BLOBS_OPTIONS`` (JSON)
    or the library's own variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``...)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        import fsspec  # only a store on a URL needs it

        if options is None:
            options = json.loads(os.environ.get("SIGHTLINE_BLOBS_OPTIONS") or "{}")
        self.location, self.options = url, options
        self.fs, base = fsspec.core.url_to_fs(url, **options)
        self.base = base.rstrip("/")
        self._cache = Path(tempfile.gettempdir()) / "sightline-blob-cache" / hashlib.sha256(url.encode()).hexdigest()[:16]

    def _at(self, digest: str) -> str:
        return f"{self.base}/{_key(digest)}"

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self._at(digest)
        if not self.fs.exists(target):
            try:
                self.fs.pipe_file(target, data)
            except OSError as exc:
                if (full := no_room_error(exc, f"{len(data):,} bytes")) is not None:
                    raise full from None
                raise
        return digest

    def put_file(self, path: str | Path) -> str:
        return self.put(Path(path).read_bytes())

    def read(self, digest: str) -> bytes:
        return self.fs.cat_file(self._at(digest))

    def path(self, digest: str) -> Path:
        """A local file with the blob's bytes (downloaded once per machine; blobs never change)."""
        local = self._cache / _key(digest)
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=".tmp-")
            os.close(fd)
            try:
                self.fs.get_file(self._at(digest), tmp)
                os.replace(tmp, local)
            finally:
                Path(tmp).unlink(missing_ok=True)
        return local

    def has_marker(self, name: str) -> bool:
        return bool(self.fs.exists(f"{self.base}/.{name}"))

    def set_marker(self, name: str, text: str) -> None:
        self.fs.pipe_file(f"{self.base}/.{name}", text.encode())


def open_blobs(location: str | Path, options: dict[str, Any] | None = None) -> BlobStore | FsspecBlobStore:
    """The blob store at ``location``: a URL with a scheme (``s3://…``) through fsspec (with ``options``, default
    ``$SIGHTLINE_BLOBS_OPTIONS``), else a local folder."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return FsspecBlobStore(text, options)
    return BlobStore(text.removeprefix("file://"))
