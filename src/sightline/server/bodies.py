"""The JSON bodies of predict, sessions and their items: declared once, for ``/openapi.json`` and for validation.

Routes read the body themselves (they also take multipart forms), then call ``parse_body``. The domain
checks of settings, input options and video arguments stay where they are (``sightline.settings``,
``engine.video_steps``) and run inside these models, so their messages ("did you mean 'conf'?",
"conf must be between 0 and 1, got 3") reach the client unchanged. Everything else a client sends
wrong gets one message naming the field and the reason: ``images[0].data must be a string, got list``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from sightline.engine.video_steps import parse_video_kwargs
from sightline.errors import InputError, InvalidSettingError, SightlineError
from sightline.settings import parse_options, parse_settings, reject_unknown, shown

MAX_ID = 2**31 - 1  # workspace IDs are 32-bit integers in the database (PostgreSQL INTEGER)
MAX_NAME = 1024  # model names and paths, project names
MAX_URL = 8192

MAX_LIST = 10_000  # items, URLs or file metadata in one body: validation stops at the first list over it
MAX_IDS = 100_000  # workspace IDs in one body
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Ids = Annotated[list[Id], Field(max_length=MAX_IDS)]
Side = Annotated[int, Field(ge=32, le=4096)]  # of an img_size, in pixels
Url = Annotated[str, Field(max_length=MAX_URL, json_schema_extra={"format": "uri"})]  # http(s) checked when fetched
Urls = Annotated[list[Url], Field(max_length=MAX_LIST)]
Metas = Annotated[list[dict[str, Any] | None], Field(max_length=MAX_LIST)]


class Body(BaseModel):
    """Strict JSON: no unknown fields, no numbers for strings (or the reverse), no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    where: ClassVar[str | None] = None  # where unknown fields are reported (with a "did you mean" hint); None: ignored

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(cls.where, str):
            reject_unknown(values, list(cls.model_fields), cls.where)
        return values


class Settings(Body):
    """Prediction settings (``sightline.settings.PredictSettings``); unset means the model's default."""

    where: ClassVar[str | None] = "settings"
    conf: float | None = Field(None, ge=0, le=1)
    iou: float | None = Field(None, ge=0, le=1)
    max_detections: int | None = Field(None, ge=1)
    classes: str | Annotated[list[str], Field(max_length=MAX_LIST)] | None = None
    img_size: Side | Annotated[list[Side], Field(min_length=2, max_length=2)] | None = None  # a list: strict tuples refuse JSON arrays
    batch_size: int = Field(4, ge=1)
    agnostic_nms: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _domain(cls, values: Any) -> Any:
        if isinstance(values, dict):
            parse_settings(values)  # its messages win; known class names are checked by the route
        return values


class Options(Body):
    """How inputs are read: folder recursion and video sampling (``sightline.settings.InputOptions``)."""

    where: ClassVar[str | None] = "options"
    recursive: bool = False
    stride: int = Field(1, ge=1)
    start_frame: int = Field(0, ge=0)
    end_frame: int | None = Field(None, ge=1)
    num_frames: int | None = Field(None, ge=1)
    duration: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _domain(cls, values: Any) -> Any:
        if isinstance(values, dict):
            parse_options(values)
        return values


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


class Callback(Body):
    where: ClassVar[str | None] = "callback"
    url: Url
    username: str | None = Field(None, max_length=MAX_NAME)
    password: str | None = Field(None, max_length=MAX_NAME)


class CreateSession(Body):
    """``POST /v1/sessions``: what to run, and either ``total`` items to come or workspace IDs."""

    where: ClassVar[str | None] = "POST /v1/sessions"
    model: str | None = Field(None, max_length=MAX_NAME)
    settings: Settings | None = None
    options: Options | None = None
    total: int | None = Field(None, ge=0, le=2**53)
    urls: Urls | None = None
    callback: Callback | None = None
    close: bool | None = None
    project_id: Id | Ids | None = None
    dataset_id: Id | Ids | None = None
    image_ids: Id | Ids | None = None
    video_id: Id | None = None
    upload: Literal["create", "append", "replace", "iou_merge"] | None = None
    upload_project: str | None = Field(None, max_length=MAX_NAME)
    iou_merge_threshold: float | None = Field(None, ge=0, le=1)
    tracking: bool = False
    tracking_config: dict[str, Any] | None = None
    annotated_video: bool = False
    traces: bool = False

    @model_validator(mode="before")
    @classmethod
    def _video(cls, values: Any) -> Any:
        if isinstance(values, dict):
            if isinstance(values.get("annotated_video"), str):
                raise InputError("annotated_video must be true or false on a server (the file is fetched from /video)")
            parse_video_kwargs({k: values[k] for k in ("tracking", "tracking_config", "annotated_video", "traces") if k in values})
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


FIELD_NAMES = {name for model in (Settings, Options, ImageItem, PredictBody, PredictForm, Callback, CreateSession, SessionItem, AddItems, ItemsForm)
               for name in model.model_fields}
TYPE_NAMES = {dict: "object", list: "list", str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
EXPECTED = {
    "string_type": "a string", "int_type": "a whole number", "int_from_float": "a whole number", "float_type": "a number",
    "bool_type": "true or false", "list_type": "a list", "tuple_type": "a list", "dict_type": "a JSON object",
    "model_type": "a JSON object", "model_attributes_type": "a JSON object", "finite_number": "a finite number",
    "none_required": "null",
}


def _path(loc: tuple[int | str, ...]) -> str:
    """``('images', 0, 'data')`` -> ``images[0].data``; union members' tags (``'list[int]'``) are left out."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in FIELD_NAMES:
            out += f".{part}" if out else part
    return out or "body"


def _expected(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind in EXPECTED:
        return EXPECTED[kind]
    bounds = {"greater_than_equal": "at least {ge}", "greater_than": "greater than {gt}", "less_than_equal": "at most {le}",
              "less_than": "less than {lt}", "string_too_long": "at most {max_length} characters long",
              "too_long": "at most {max_length} items long", "too_short": "at least {min_length} items long", "literal_error": "one of {expected}"}
    if kind in bounds:
        return bounds[kind].format(**ctx)
    return error["msg"][:1].lower() + error["msg"][1:]


def _got(value: Any, kind: str) -> str:
    """What was sent: its JSON type for a type error, else the value itself (shortened)."""
    if kind.endswith("_type") or kind == "int_from_float":
        return TYPE_NAMES.get(type(value), type(value).__name__)
    return shown(value)


def validation_error(exc: ValidationError) -> SightlineError:
    """The first problem as a sightline error naming the field (a union's alternatives in one sentence)."""
    errors = exc.errors()
    for e in errors:
        original = (e.get("ctx") or {}).get("error")
        if isinstance(original, SightlineError):  # a domain check inside the model: its own words
            return original
    # of a union's alternatives, the one that got furthest into the value is the one the client meant
    # (``image_ids: [2**31]`` is a list whose item is too large, not a number that is a list)
    first = max((_path(e["loc"]) for e in errors), key=lambda p: p.count("[") + p.count("."))
    same = [e for e in errors if _path(e["loc"]) == first]
    e = same[0]
    if e["type"] == "extra_forbidden":
        parent, _, name = first.rpartition(".")
        return InvalidSettingError(f"unexpected field {str(e['loc'][-1])!r} in {parent or 'body'}")
    if e["type"] == "missing":
        return InvalidSettingError(f"{first} is required")
    expected = " or ".join(dict.fromkeys(_expected(x) for x in same))
    return InvalidSettingError(f"{first} must be {expected}, got {_got(e['input'], e['type'])}")


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], values: dict[str, Any]) -> M:
    """Validate a request body (or form) read by the route; raises a sightline error naming the field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise validation_error(exc) from None


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
