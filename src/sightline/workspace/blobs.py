"""Content-addressed blob folder: bytes stored once under their sha256, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


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
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)  # atomic: readers never see half a file
        return digest

    def put_file(self, path: str | Path) -> str:
        return self.put(Path(path).read_bytes())

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()
