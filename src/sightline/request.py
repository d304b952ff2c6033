"""One prediction request: what ``predict`` accepts, what the client sends and what the server's routes declare.

``PredictRequest.from_kwargs`` parses a ``predict`` call's keywords once (the seeds' spellings folded in,
flat names routed into ``settings`` and ``options``); ``LocalModel`` runs it, ``RemoteModel`` sends it as
the body of ``POST /v1/sessions``, whose declared body (``server.bodies.CreateSession``) is the same
``RunRequest`` plus the fields of an upload-fed session. Live streams (``LiveRequest``) and uploads of
reviewed predictions (``UploadRequest``) are declared here too.

The domain checks of ``sightline.settings`` run inside these models, so their messages ("did you mean
'conf'?", "conf must be between 0 and 1, got 3") reach the caller unchanged; anything else sent wrong
gets one message naming the field and the reason: ``images[0].data must be a string, got list``.

This module is part of the thin client: it imports pydantic and nothing heavy (no torch, SQLAlchemy, PyAV).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import ErrorDetails

from sightline.errors import InputError, InvalidSettingError, SightlineError
from sightline.settings import InputOptions, PredictSettings, parse_options, parse_settings, reject_unknown, shown

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
UploadModeName = Literal["create", "append", "replace", "iou_merge"]


class Body(BaseModel):
    """Strict: no unknown fields, no numbers for strings (or the reverse), no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    where: ClassVar[str | None] = None  # where unknown fields are reported (with a "did you mean" hint); None: ignored

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(cls.where, str):
            reject_unknown(values, list(cls.model_fields), cls.where)
        return values


def _lists(values: Any, names: Sequence[str]) -> Any:
    """Python tuples as lists (strict models take JSON arrays as lists only); other values unchanged."""
    if not isinstance(values, dict) or not any(isinstance(values.get(n), tuple) for n in names):
        return values
    return {k: list(v) if k in names and isinstance(v, tuple) else v for k, v in values.items()}


class Settings(Body):
    """How the model runs (``PredictSettings``); unset means the model's default."""

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
    def _domain(cls, values: Any, info: ValidationInfo) -> Any:
        if isinstance(values, dict):
            classes = (info.context or {}).get("classes")
            parse_settings(values, classes)  # its messages win; the route checks class names once it knows the model
        return _lists(values, ("classes", "img_size"))

    def parsed(self, known_classes: Sequence[str] | None = None) -> PredictSettings:
        """The engine's ``PredictSettings``; ``known_classes`` (the model's) checks ``classes``."""
        return parse_settings(self.model_dump(exclude_unset=True), known_classes)


class Options(Body):
    """How inputs are read: folder recursion and video sampling (``InputOptions``)."""

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

    def parsed(self) -> InputOptions:
        return parse_options(self.model_dump(exclude_unset=True))


class Callback(Body):
    """A URL the side that runs the session POSTs the final status to (basic auth when a username is given)."""

    where: ClassVar[str | None] = "callback"
    url: Url
    username: str | None = Field(None, max_length=MAX_NAME)
    password: str | None = Field(None, max_length=MAX_NAME)


class WorkspaceSource(Body):
    """Workspace IDs as the input, resolved by the side that owns the workspace (this process, or the server)."""

    project_id: Id | Ids | None = None
    dataset_id: Id | Ids | None = None
    image_ids: Id | Ids | None = None
    video_id: Id | None = None

    @model_validator(mode="before")
    @classmethod
    def _id_lists(cls, values: Any) -> Any:
        return _lists(values, ("project_id", "dataset_id", "image_ids"))

    def ids(self) -> dict[str, Any]:
        """The workspace IDs given, by name."""
        return {k: getattr(self, k) for k in WorkspaceSource.model_fields if getattr(self, k) is not None}

    def source(self, input: Any = None) -> str:
        """``"input"`` or the name of the one workspace ID given; an ``InputError`` for none or several."""
        given = (["input"] if input is not None else []) + list(self.ids())
        if not given:
            raise InputError("nothing to predict: pass input= (a path, URL, folder, video, image, array or a list) or a workspace ID")
        if len(given) > 1:
            raise InputError(f"give exactly one input source, got {' and '.join(given)}")
        return given[0]


def _tracking_config(config: Any) -> None:
    """Types a client can get wrong, checked before the tracker's own settings are (by the side that tracks)."""
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise InvalidSettingError(f"tracking_config must be a dict, got {shown(config)}")
    tracker = config.get("tracker", "bytetrack")
    if not isinstance(tracker, str):
        raise InvalidSettingError(f"tracking_config tracker must be a tracker name (a string), got {shown(tracker)}")
    for key, value in config.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidSettingError(f"tracker setting {key!r} must be a finite number, got {shown(value)}")


class Tracking(Body):
    """Track objects across a video's frames (the ``trackers`` package; ``tracking_config`` picks one and tunes it)."""

    tracking: bool = False
    tracking_config: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _tracking(cls, values: Any) -> Any:
        if isinstance(values, dict):
            tracking = values.get("tracking", False)
            if not isinstance(tracking, bool):
                raise InvalidSettingError(f"tracking must be True or False, got {shown(tracking)}")
            if values.get("tracking_config") is not None and not tracking:
                raise InvalidSettingError("tracking_config only applies with tracking=True")
            _tracking_config(values.get("tracking_config"))
        return values


class VideoArgs(Tracking):
    """What happens to a video's frames after the model: tracking, an annotated video, traces on it."""

    annotated_video: bool = False
    traces: bool = False

    @model_validator(mode="before")
    @classmethod
    def _video(cls, values: Any) -> Any:
        if isinstance(values, dict):
            out = values.get("annotated_video", False)
            if not isinstance(out, (bool, str, Path)):
                raise InvalidSettingError(f"annotated_video must be True, False or a file path, got {shown(out)}")
            if not isinstance(values.get("traces", False), bool):
                raise InvalidSettingError(f"traces must be True or False, got {shown(values['traces'])}")
        return values


class UploadArgs(Body):
    """Upload each result into the workspace as the run goes (``create`` a project, or into the images it came from)."""

    upload: UploadModeName | None = None
    upload_project: str | None = Field(None, max_length=MAX_NAME)
    iou_merge_threshold: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _only_with_upload(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("upload") is None:
            given = [k for k in ("upload_project", "iou_merge_threshold") if values.get(k) is not None]
            if given:
                raise InvalidSettingError(f"{' and '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} with upload=")
        return values


class RunRequest(WorkspaceSource, VideoArgs, UploadArgs):
    """A prediction run: which model, its settings, how inputs are read, and what happens to the results.

    The input itself is workspace IDs, or items that follow (files, URLs, arrays: the SDK's ``input=``)."""

    model: str | None = Field(None, max_length=MAX_NAME)
    settings: Settings | None = None
    options: Options | None = None
    callback: Callback | None = None

    def predict_settings(self, known_classes: Sequence[str] | None = None) -> PredictSettings:
        return (self.settings or Settings()).parsed(known_classes)

    def input_options(self) -> InputOptions:
        return (self.options or Options()).parsed()


# --- the SDK's keywords ------------------------------------------------------------------------------------
class PredictRequest(RunRequest):
    """A ``predict`` call (any of its forms): the run request, plus what only the caller's process can do."""

    where: ClassVar[str | None] = "predict()"
    device: str | None = Field(None, description="move an in-process model there for this and later calls")
    # wider than the wire's bool: the SDK also takes where to save the video (sent as True, saved by the SDK)
    annotated_video: bool | str | Path = Field(False, description="True, or a file path to save the annotated video to")  # type: ignore[assignment]
    # where the run runs: "ray" is a Ray Data job over workspace images, driven by this process (docs/scale-out.md)
    engine: Literal["local", "ray"] = Field("local", description="'ray': a Ray Data job over the workspace images named")
    ray_options: dict[str, Any] | None = Field(None, description="with engine='ray': the job's concurrency, batch_size, CPUs and GPUs")
    resume_job: str | None = Field(None, max_length=64, description="with engine='ray': the id of a stopped or interrupted job to run on")

    @model_validator(mode="before")
    @classmethod
    def _ray_only(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("engine", "local") != "ray":
            for k in ("ray_options", "resume_job"):
                if values.get(k) is not None:
                    raise InvalidSettingError(f"{k} only applies with engine='ray'")
        return values

    # the spellings of the Supervisely Prediction API draft and Scale Launch: folded into the keywords above
    SEED_KEYWORDS: ClassVar[tuple[str, ...]] = ("settings", "video_params", "image_id", "callback_url", "callback_auth_kind",
                                                "callback_auth_username", "callback_auth_password")

    @classmethod
    def keywords(cls) -> tuple[str, ...]:
        """Every keyword ``predict`` accepts (besides ``input`` and ``tqdm``)."""
        nested = {"model", "settings", "options", "callback"}
        plain = (*Settings.model_fields, *Options.model_fields, *(k for k in cls.model_fields if k not in nested))
        return (*plain, *(k for k in cls.SEED_KEYWORDS if k not in plain))

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], where: str = "predict", known_classes: Sequence[str] | None = None) -> PredictRequest:
        """Parse a call's keywords; unknown names, mistyped values and contradictions raise, naming the argument."""
        reject_unknown(kwargs, cls.keywords(), f"{where}()")
        flat, callback = _expand_seed_kwargs(kwargs, where)
        body: dict[str, Any] = {
            "settings": {k: flat.pop(k) for k in Settings.model_fields if k in flat},
            "options": {k: flat.pop(k) for k in Options.model_fields if k in flat},
            **flat,
        }
        if callback is not None:
            body["callback"] = callback
        return parse(cls, body, classes=known_classes)

    def wire(self) -> dict[str, Any]:
        """The body of ``POST /v1/sessions`` for this request (the server owns workspace IDs and uploads)."""
        body = self.model_dump(mode="json", exclude={"device", "annotated_video", "engine", "ray_options", "resume_job"},
                               exclude_none=True, exclude_defaults=True)
        body["settings"] = (self.settings or Settings()).model_dump(mode="json", exclude_none=True)
        body["options"] = (self.options or Options()).model_dump(mode="json")
        if self.annotated_video is not False:  # a path is where the client saves the video the server writes
            body["annotated_video"] = True
        return body


class PredictKwargs(TypedDict, total=False):
    """Keyword arguments of ``predict`` / ``predict_detached``, for type checkers and IDEs (the same names as
    ``PredictRequest.keywords()``, which a test checks)."""

    conf: float
    iou: float
    max_detections: int
    classes: Sequence[str]
    img_size: int | tuple[int, int]
    batch_size: int
    agnostic_nms: bool
    device: str
    recursive: bool
    stride: int
    start_frame: int
    end_frame: int
    num_frames: int
    duration: float
    project_id: int | list[int]
    dataset_id: int | list[int]
    image_ids: int | list[int]
    video_id: int
    upload: str
    upload_project: str
    iou_merge_threshold: float
    tracking: bool
    tracking_config: dict[str, Any]
    annotated_video: bool | str | Path
    traces: bool
    settings: dict[str, Any]
    video_params: dict[str, Any]
    image_id: int | list[int]
    callback_url: str
    callback_auth_kind: str
    callback_auth_username: str
    callback_auth_password: str
    engine: str
    ray_options: dict[str, Any]
    resume_job: str


def _merge(into: dict[str, Any], extra: Any, name: str, accepted: Sequence[str], where: str) -> None:
    if not isinstance(extra, Mapping):
        raise InvalidSettingError(f"{name} must be a dict, got {shown(extra)}")
    reject_unknown(extra, accepted, f"{where}({name}=...)")
    for key, value in extra.items():
        if key in into and into[key] != value:
            raise InvalidSettingError(f"{key} is given twice, as {key}={shown(into[key])} and in {name} as {shown(value)}")
        into[key] = value


def _expand_seed_kwargs(kwargs: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``settings={...}``, ``video_params={...}`` and ``image_id=`` folded into ordinary keywords (validated as
    strictly as they are), and the completion callback as the ``callback`` body (or None)."""
    out = {k: v for k, v in kwargs.items() if k not in PredictRequest.SEED_KEYWORDS}
    if kwargs.get("settings") is not None:
        _merge(out, kwargs["settings"], "settings", list(Settings.model_fields), where)
    if kwargs.get("video_params") is not None:
        video_params = [*(k for k in Options.model_fields if k != "recursive"), *VideoArgs.model_fields]
        _merge(out, kwargs["video_params"], "video_params", video_params, where)
    if kwargs.get("image_id") is not None:
        if out.get("image_ids") is not None:
            raise InvalidSettingError("give image_id or image_ids, not both")
        out["image_ids"] = kwargs["image_id"]
    url = kwargs.get("callback_url")
    kind = kwargs.get("callback_auth_kind")
    user, password = kwargs.get("callback_auth_username"), kwargs.get("callback_auth_password")
    if url is None:
        given = [k for k in ("callback_auth_kind", "callback_auth_username", "callback_auth_password") if kwargs.get(k) is not None]
        if given:
            raise InvalidSettingError(f"{', '.join(given)} only apply with callback_url")
        return out, None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidSettingError(f"callback_url must be an http:// or https:// URL, got {shown(url)}")
    if kind not in (None, "basic"):
        raise InvalidSettingError(f"callback_auth_kind must be 'basic' (mTLS is not supported), got {shown(kind)}")
    if kind == "basic" and not (isinstance(user, str) and user and isinstance(password, str)):
        raise InvalidSettingError("callback_auth_kind='basic' needs callback_auth_username and callback_auth_password strings")
    if kind is None and (user is not None or password is not None):
        raise InvalidSettingError("callback_auth_username/password need callback_auth_kind='basic'")
    return out, {"url": url, "username": user if kind else None, "password": password if kind else None}


def options_from_kwargs(kwargs: Mapping[str, Any], where: str) -> InputOptions:
    """Input options alone, as keywords (``resume(input, recursive=True)``)."""
    reject_unknown(kwargs, list(Options.model_fields), f"{where}()")
    return parse(Options, dict(kwargs)).parsed()


# --- live streams and uploads ------------------------------------------------------------------------------
class LiveRequest(Tracking):
    """``POST /v1/live`` and ``model.live(...)``: a stream of frames predicted as they come, newest first."""

    where: ClassVar[str | None] = "POST /v1/live"
    model: str | None = Field(None, max_length=MAX_NAME)
    settings: Settings | None = None

    @classmethod
    def from_kwargs(cls, tracking: Any, tracking_config: Any, settings: Mapping[str, Any], known_classes: Sequence[str] | None) -> LiveRequest:
        reject_unknown(settings, list(Settings.model_fields), "live()")
        return parse(cls, {"tracking": tracking, "tracking_config": tracking_config, "settings": dict(settings)}, classes=known_classes)

    def predict_settings(self, known_classes: Sequence[str] | None = None) -> PredictSettings:
        return (self.settings or Settings()).parsed(known_classes)

    def wire(self) -> dict[str, Any]:
        """The body of ``POST /v1/live``."""
        return self.model_dump(mode="json", exclude_none=True) | {"settings": (self.settings or Settings()).model_dump(mode="json", exclude_none=True)}


class UploadRequest(Body):
    """``POST /v1/uploads`` and ``model.upload(...)``: reviewed predictions into the workspace, or a preview."""

    where: ClassVar[str | None] = "POST /v1/uploads"
    mode: UploadModeName
    predictions: Annotated[list[Any], Field(max_length=MAX_LIST, description="Prediction.to_dict() objects")]
    iou_merge_threshold: float = Field(0.9, ge=0, le=1)
    project: str | None = Field(None, max_length=MAX_NAME, description="the new project's name (create)")
    project_id: Id | None = Field(None, description="continues a 'create' sent in parts: the id the first part answered")
    dry_run: bool = False
    model: str | None = Field(None, max_length=MAX_NAME, description="recorded as the objects' source")
    video: bool = Field(False, description="create: the one 'files' part is the video the predictions' frames come from")
    details: bool = Field(False, description="each item's answer also says what happens to each of its objects")

    @model_validator(mode="before")
    @classmethod
    def _mode_first(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("mode") not in ("create", "append", "replace", "iou_merge"):
            raise InvalidSettingError(f"upload must be one of 'create', 'append', 'replace', 'iou_merge', got {shown(values.get('mode'))}")
        return values


# --- errors ----------------------------------------------------------------------------------------------
def _field_names() -> set[str]:
    models: list[type[BaseModel]] = [Settings, Options, Callback, PredictRequest, LiveRequest, UploadRequest]
    return {name for model in models for name in model.model_fields}


FIELD_NAMES = _field_names()
TYPE_NAMES = {dict: "object", list: "list", str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
EXPECTED = {
    "string_type": "a string", "int_type": "a whole number", "int_from_float": "a whole number", "float_type": "a number",
    "bool_type": "true or false", "list_type": "a list", "tuple_type": "a list", "dict_type": "a JSON object",
    "model_type": "a JSON object", "model_attributes_type": "a JSON object", "finite_number": "a finite number",
    "none_required": "null", "is_instance_of": "a file path",
}


def _path(loc: tuple[int | str, ...], names: set[str]) -> str:
    """``('images', 0, 'data')`` -> ``images[0].data``; union members' tags (``'list[int]'``) are left out."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in names:
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


def validation_error(exc: ValidationError, names: set[str] | None = None) -> SightlineError:
    """The first problem as a sightline error naming the field (a union's alternatives in one sentence)."""
    names = FIELD_NAMES if names is None else names
    errors = exc.errors()
    for e in errors:
        original = (e.get("ctx") or {}).get("error")
        if isinstance(original, SightlineError):  # a domain check inside the model: its own words
            return original
    # of a union's alternatives, the one that got furthest into the value is the one the client meant
    # (``image_ids: [2**31]`` is a list whose item is too large, not a number that is a list)
    first = max((_path(e["loc"], names) for e in errors), key=lambda p: p.count("[") + p.count("."))
    same = [e for e in errors if _path(e["loc"], names) == first]
    e = same[0]
    if e["type"] == "extra_forbidden":
        parent, _, name = first.rpartition(".")
        return InvalidSettingError(f"unexpected field {str(e['loc'][-1])!r} in {parent or 'body'}")
    if e["type"] == "missing":
        return InvalidSettingError(f"{first} is required")
    expected = " or ".join(dict.fromkeys(_expected(x) for x in same))
    return InvalidSettingError(f"{first} must be {expected}, got {_got(e['input'], e['type'])}")


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], values: Any, classes: Sequence[str] | None = None, names: set[str] | None = None) -> M:
    """Validate ``values`` as ``model``; raises a sightline error naming the field. ``classes``: the model's
    class names, which ``settings.classes`` must be among."""
    if not isinstance(values, dict):
        raise InputError(f"the request body must be a JSON object, got {TYPE_NAMES.get(type(values), type(values).__name__)}")
    try:
        return model.model_validate(values, context={"classes": classes})
    except ValidationError as exc:
        raise validation_error(exc, names) from None


__all__ = ["LiveRequest", "PredictKwargs", "PredictRequest", "RunRequest", "Settings", "Options", "UploadRequest", "parse"]
