"""One rule for every name the workspace stores: projects, datasets, images, videos, classes.

Dataset and image names become folder and file names on export, so they may not hold a path
separator or be ``.``/``..``; no name may hold a control character (PostgreSQL refuses NUL, and a
line break would corrupt YAML or labels files). Lengths are bounded in UTF-8 bytes so that an exported
``<name>.json`` still fits the 255-byte file-name limit of common file systems, and every bound fits
the database columns (``String(255)``) on PostgreSQL too.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sightline.errors import InvalidSettingError

MAX_NAME_BYTES = 240
MAX_DESCRIPTION_CHARS = 10_000
SEPARATORS = ("/", "\\")


def _control(text: str) -> str | None:
    return next((c for c in text if unicodedata.category(c) == "Cc"), None)


def valid_name(value: Any, what: str, *, path_safe: bool = True) -> str:
    """``value`` stripped, or an ``InvalidSettingError`` naming ``what`` (e.g. "dataset name") and why.

    ``path_safe`` names (projects, datasets, images, videos) become file names on export; class names
    (``path_safe=False``) may hold a slash ("person/rider").
    """
    if not isinstance(value, str):
        raise InvalidSettingError(f"{what} must be text, got {type(value).__name__} {value!r:.80}")
    name = value.strip()
    if not name:
        raise InvalidSettingError(f"{what} is empty")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise InvalidSettingError(f"{what} is too long: {size:,} bytes as UTF-8, at most {MAX_NAME_BYTES} ({name[:40]!r}...)")
    bad = _control(name)
    if bad is not None:
        raise InvalidSettingError(f"{what} {name!r} holds a control character ({bad!r}); names are one line of printable text")
    if path_safe:
        if any(sep in name for sep in SEPARATORS):
            raise InvalidSettingError(f"{what} {name!r} holds a path separator ('/' or '\\\\'); names cannot nest or leave their folder")
        if name in (".", ".."):
            raise InvalidSettingError(f"{what} cannot be {name!r}: it names a folder, not an entry")
    return name


def valid_description(value: Any) -> str:
    """A project's description: text of at most 10,000 characters, line breaks allowed, no NUL."""
    if not isinstance(value, str):
        raise InvalidSettingError(f"description must be text, got {type(value).__name__}")
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise InvalidSettingError(f"description is too long: {len(value):,} characters, at most {MAX_DESCRIPTION_CHARS:,}")
    bad = next((c for c in value if unicodedata.category(c) == "Cc" and c not in "\n\r\t"), None)
    if bad is not None:
        raise InvalidSettingError(f"description holds a control character ({bad!r})")
    return value
