"""Reading request bodies: settings JSON, multipart files with their metadata, and the size limits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from sightline.errors import InputError, InvalidSettingError, PayloadTooLargeError
from sightline.server.config import ServerConfig
from sightline.server.uploads import safe_name


def parse_json_field(value: Any, name: str) -> Any:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"form field {name!r} must be a JSON string")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputError(f"form field {name!r} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"form field {name!r} is too deeply nested to read as JSON") from None


def as_dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{name!r} must be a JSON object, got {type(value).__name__}")
    return value


def parse_last_event_id(value: str | None, default: int) -> int:
    """The SSE ``Last-Event-ID`` header as a cursor: ASCII digits within int64, else ``InvalidSettingError``."""
    if not value:  # an empty id resets the stream's id (SSE spec): as if none was sent
        return default
    if not (0 < len(value) <= 19 and value.isascii() and value.isdigit()) or int(value) > 2**63 - 1:
        raise InvalidSettingError(f"the Last-Event-ID header must be a result cursor (a whole number from 0 to {2**63 - 1}), got {value!r:.40}")
    return int(value)


async def read_form(request: Request, config: ServerConfig) -> tuple[dict[str, Any], list[UploadFile]]:
    """Parse a multipart body: JSON fields and the uploaded ``files`` (each checked against the size limit)."""
    try:
        form = await request.form(max_files=config.max_items_per_request, max_part_size=4 * 1024 * 1024)
    except MultiPartException as exc:
        raise InputError(f"the multipart body could not be read: {exc.message}") from None
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    for f in files:
        if f.size is not None and f.size > config.max_file_bytes:
            raise PayloadTooLargeError(f"file {f.filename!r} is {f.size:,} bytes, over the limit of {config.max_file_bytes:,}")
    fields = {k: parse_json_field(v, k) for k, v in form.items() if not isinstance(v, UploadFile)}
    return fields, files


async def read_json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:  # json's C parser gives up on arrays/objects nested ~1000 deep
        raise InputError("the request body is too deeply nested to read as JSON") from None
    return as_dict(body, "body")


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def in_memory(upload: UploadFile) -> bool:
    """The upload is still in memory: Starlette spools a part to a temporary file only past 1 MB."""
    return not getattr(upload.file, "_rolled", True)


def save_upload(upload: UploadFile, folder: Path) -> Path:
    """Copy an uploaded file into ``folder`` under a server-chosen name."""
    path = folder / safe_name(upload.filename)
    with path.open("wb") as out:
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, out, length=1024 * 1024)
    return path
