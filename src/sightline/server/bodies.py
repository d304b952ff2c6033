"""The JSON bodies of predict, sessions and their items: declared once, for ``/openapi.json`` and for validation.

Routes read the body themselves (they also take multipart forms), then call ``parse_body``. A session's
body is the SDK's own request model (``sightline.request.RunRequest``) plus the fields of an upload-fed
session; the domain checks and the error messages live with that model.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sightline.errors import InputError
from sightline.request import FIELD_NAMES as REQUEST_FIELDS
from sightline.request import MAX_LIST, MAX_NAME, Body, Metas, RunRequest, Settings, Url, Urls, parse


class ImageItem(Body):
    """One base64-encoded image of ``POST /v1/predict``, with the metadata echoed in its prediction."""

    model_config = ConfigDict(extra="ignore")  # other keys a client adds are dropped, as they always were
    data: str = Field(description="the image file's bytes, base64")
    source: str | None = None
    image_path: str | None = None
    image_url: str | None = None
    video_path: str | None = None
    project_id: int | None = None
    dataset_id: int | None = None
    image_id: int | None = None
    video_id: int | None = None


class PredictBody(Body):
    """``POST /v1/predict`` as JSON: base64 ``images`` and/or ``urls``."""

    where: ClassVar[str | None] = "POST /v1/predict"
    model: str | None = Field(None, max_length=MAX_NAME)
    settings: Settings | None = None
    images: Annotated[list[ImageItem], Field(max_length=MAX_LIST)] | None = None
    urls: Urls | None = None
    meta: Metas | None = None  # as in the multipart form; JSON images also carry their own


class PredictForm(Body):
    """``POST /v1/predict`` as multipart: ``files`` plus these fields, each a JSON text."""

    where: ClassVar[str | None] = "the form of POST /v1/predict"
    model: str | None = Field(None, max_length=MAX_NAME)
    settings: Settings | None = None
    meta: Metas | None = Field(None, description="one object per file: source, image_path, ...")


class CreateSession(RunRequest):
    """``POST /v1/sessions``: a run (``RunRequest``), and either ``total`` items to come or workspace IDs."""

    where: ClassVar[str | None] = "POST /v1/sessions"
    total: int | None = Field(None, ge=0, le=2**53)
    urls: Urls | None = None
    close: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _server_video(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("annotated_video"), str):
            raise InputError("annotated_video must be true or false on a server (the file is fetched from /video)")
        return values


class SessionItem(Body):
    """One item of ``POST /v1/sessions/{id}/items``: a URL to fetch, or an item the client could not read."""

    model_config = ConfigDict(extra="ignore")
    url: Url | None = None
    error: str | None = Field(None, max_length=100_000)
    meta: dict[str, Any] | None = None


class AddItems(Body):
    """``POST /v1/sessions/{id}/items`` as JSON."""

    where: ClassVar[str | None] = "POST /v1/sessions/{id}/items"
    items: Annotated[list[SessionItem], Field(max_length=MAX_LIST)] | None = None
    urls: Urls | None = None
    close: bool | None = None


class ItemsForm(Body):
    """``POST /v1/sessions/{id}/items`` as multipart: ``files`` plus these fields, each a JSON text."""

    where: ClassVar[str | None] = "the form of POST /v1/sessions/{id}/items"
    meta: Metas | None = Field(None, description="one object per file: source, ..., kind (image or video)")
    close: bool | None = None


FIELD_NAMES = REQUEST_FIELDS | {name for model in (ImageItem, PredictBody, PredictForm, CreateSession, SessionItem, AddItems, ItemsForm)
                                for name in model.model_fields}

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], values: Any) -> M:
    """Validate a request body (or form) read by the route; raises a sightline error naming the field."""
    return parse(model, values, names=FIELD_NAMES)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined, so it can sit inside an OpenAPI document."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def schema_of(model: type[BaseModel], form_files: str | None = None) -> dict[str, Any]:
    """The JSON schema of a body; with ``form_files``, the multipart form: files plus JSON-text fields."""
    schema = _inline(model.model_json_schema())
    if form_files is None:
        return schema
    fields = {name: {"type": "string", "description": f"JSON text: {prop.get('description') or name}"} for name, prop in schema["properties"].items()}
    return {"type": "object", "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": form_files}, **fields}}


def request_body(json_model: type[BaseModel], form_model: type[BaseModel] | None = None, files: str = "") -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its body itself (JSON, and optionally a multipart form)."""
    content = {"application/json": {"schema": schema_of(json_model)}}
    if form_model is not None:
        content["multipart/form-data"] = {"schema": schema_of(form_model, files)}
    return {"requestBody": {"required": True, "content": content}}
