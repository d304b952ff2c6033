"""Content-addressed blob folder: bytes stored once under their sha256, written atomically."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path

from sightline.errors import InsufficientStorageError

# the disk or the user's quota is full, or the file is over the file system's size limit
NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def no_room_error(exc: OSError, what: str) -> InsufficientStorageError | None:
    """A clear 507 error for a write that failed for lack of room, else ``None`` (re-raise the original)."""
    if exc.errno not in NO_ROOM:
        return None
    return InsufficientStorageError(f"no space left to store {what}: the server's disk or quota is full ({os.strerror(exc.errno)})", 507)


class BlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

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
