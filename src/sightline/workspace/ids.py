"""One rule for every ID the workspace is given: a positive integer that a database key can hold.

Keys are ``INTEGER``: 32-bit on PostgreSQL, 64-bit on SQLite. The workspace takes the smaller range
on both, so an ID no row can have (0, negative, above 2**31 - 1) is simply "not found" everywhere,
rather than an overflow error from the database driver.
"""

from __future__ import annotations

from typing import Any

from sightline.errors import InvalidSettingError, NotFoundError

MAX_ID = 2**31 - 1


def is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def valid_id(value: Any, kind: str) -> int:
    """``value`` as the ID of a ``kind`` ("project", "dataset", ...): ``InvalidSettingError`` for a
    non-integer, ``NotFoundError`` (404) for an integer no row can have."""
    if not is_id(value):
        raise InvalidSettingError(f"{kind}_id must be an integer ID, got {type(value).__name__} {value!r:.80}")
    if not 1 <= value <= MAX_ID:
        raise NotFoundError(f"no {kind} {value} in this workspace (IDs run from 1 to {MAX_ID})", 404)
    return value
