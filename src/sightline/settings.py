"""Prediction settings and input options: parsed once, validated strictly, never silently dropped."""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, TypedDict

from sightline.errors import InputError, InvalidSettingError, UnknownArgumentError

# Names of predict keywords handled beside settings and input options. They live here, in a module with no
# heavy imports, so the client can route them without importing the workspace (SQLAlchemy) or video (PyAV).
UPLOAD_KWARGS = ("upload", "upload_project", "iou_merge_threshold")  # workspace/run_upload.py
VIDEO_KWARGS = ("tracking", "tracking_config", "annotated_video", "traces")  # engine/video_steps.py


@dataclass(frozen=True)
class PredictSettings:
    """How the model runs. ``None`` means the model's own default."""

    conf: float | None = None
    iou: float | None = None
    max_detections: int | None = None
    classes: tuple[str, ...] | None = None
    img_size: int | tuple[int, int] | None = None
    batch_size: int = 4
    agnostic_nms: bool | None = None  # also suppress overlapping boxes of different classes

    def resolved(self, defaults: Mapping[str, Any]) -> PredictSettings:
        """Fill unset values from a model's defaults (then from sightline's)."""
        base = {"conf": 0.25, "iou": 0.5, "max_detections": 100, **defaults}
        return replace(
            self,
            conf=self.conf if self.conf is not None else float(base["conf"]),
            iou=self.iou if self.iou is not None else float(base["iou"]),
            max_detections=self.max_detections if self.max_detections is not None else int(base["max_detections"]),
            agnostic_nms=self.agnostic_nms if self.agnostic_nms is not None else bool(base.get("agnostic_nms", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class InputOptions:
    """How an input is read: folder recursion and video sampling."""

    recursive: bool = False
    stride: int = 1
    start_frame: int = 0
    end_frame: int | None = None
    num_frames: int | None = None
    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SETTING_NAMES = tuple(f.name for f in fields(PredictSettings))
OPTION_NAMES = tuple(f.name for f in fields(InputOptions))


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlong = 40


def shown(value: Any) -> str:
    """A value as it appears in an error message: its repr, shortened (a client may send 100,000 characters)."""
    return _SHORT.repr(value)


def _is_number(value: Any) -> bool:
    """A real, finite number: not a bool, not NaN or infinity (JSON's ``NaN`` and ``1e309`` parse to those)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fraction(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value):
        raise InvalidSettingError(f"{name} must be a number between 0 and 1, got {shown(value)}")
    if not 0.0 <= float(value) <= 1.0:
        raise InvalidSettingError(f"{name} must be between 0 and 1, got {shown(value)}")
    return float(value)


def _positive_int(name: str, value: Any, allow_none: bool = True, minimum: int = 1) -> int | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidSettingError(f"{name} must be a whole number, got {shown(value)}")
    if value < minimum:
        raise InvalidSettingError(f"{name} must be at least {minimum}, got {shown(value)}")
    return value


def _optional_bool(name: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidSettingError(f"{name} must be True or False, got {shown(value)}")
    return value


def _img_size(value: Any) -> int | tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not 32 <= value <= 4096:
            raise InvalidSettingError(f"img_size must be between 32 and 4096 pixels, got {shown(value)}")
        return value
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2 and all(isinstance(v, int) for v in value):
        h, w = (_img_size(v) for v in value)
        return (int(h), int(w))  # type: ignore[arg-type]
    raise InvalidSettingError(f"img_size must be an int or an (height, width) pair, got {shown(value)}")


def _class_names(value: Any, known: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise InvalidSettingError(f"classes must be a list of class names, got {shown(value)}")
    if known is not None:
        unknown = [v for v in value if v not in known]
        if unknown:
            raise InvalidSettingError(f"classes {shown(unknown)} are not classes of this model; it knows {shown(list(known))}")
    return tuple(value)


def parse_settings(values: Mapping[str, Any], known_classes: Sequence[str] | None = None) -> PredictSettings:
    """Validate prediction settings; every error names the argument."""
    return PredictSettings(
        conf=_fraction("conf", values.get("conf")),
        iou=_fraction("iou", values.get("iou")),
        max_detections=_positive_int("max_detections", values.get("max_detections")),
        classes=_class_names(values.get("classes"), known_classes),
        img_size=_img_size(values.get("img_size")),
        batch_size=_positive_int("batch_size", values.get("batch_size", 4), allow_none=False, minimum=1) or 4,
        agnostic_nms=_optional_bool("agnostic_nms", values.get("agnostic_nms")),
    )


def parse_options(values: Mapping[str, Any]) -> InputOptions:
    """Validate input options; ranges against a video's length are checked when it is opened."""
    recursive = values.get("recursive", False)
    if not isinstance(recursive, bool):
        raise InvalidSettingError(f"recursive must be True or False, got {shown(recursive)}")
    ends = [n for n in ("end_frame", "num_frames", "duration") if values.get(n) is not None]
    if len(ends) > 1:
        raise InvalidSettingError(f"give at most one of end_frame, num_frames and duration, got {ends}")
    duration = values.get("duration")
    if duration is not None and (not _is_number(duration) or duration <= 0):
        raise InvalidSettingError(f"duration must be a positive number of seconds, got {shown(duration)}")
    options = InputOptions(
        recursive=recursive,
        stride=_positive_int("stride", values.get("stride", 1), allow_none=False) or 1,
        start_frame=_positive_int("start_frame", values.get("start_frame", 0), allow_none=False, minimum=0) or 0,
        end_frame=_positive_int("end_frame", values.get("end_frame")),
        num_frames=_positive_int("num_frames", values.get("num_frames")),
        duration=float(duration) if duration is not None else None,
    )
    if options.end_frame is not None and options.end_frame <= options.start_frame:  # the same error a video's range gives
        raise InputError(f"end_frame={options.end_frame} must be greater than start_frame={options.start_frame}")
    return options


def reject_unknown(kwargs: Mapping[str, Any], accepted: Sequence[str], where: str) -> None:
    """Raise ``UnknownArgumentError`` for any keyword not in ``accepted``, suggesting the closest name."""
    for name in kwargs:
        if name not in accepted:
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; accepted: {', '.join(sorted(accepted))}"
            if where.endswith("()"):
                raise UnknownArgumentError(f"{where} got an unexpected keyword argument {shown(name)}{hint}")
            raise UnknownArgumentError(f"unexpected field {shown(name)} in {where}{hint}")


class PredictKwargs(TypedDict, total=False):
    """Keyword arguments of ``predict`` / ``predict_detached``, for type checkers and IDEs."""

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
    project_id: int
    dataset_id: int | list[int]
    image_ids: int | list[int]
    video_id: int
    upload: str
    upload_project: str
    iou_merge_threshold: float
    tracking: bool
    tracking_config: dict[str, Any]
    annotated_video: bool | str
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


def split_kwargs(kwargs: Mapping[str, Any], where: str, known_classes: Sequence[str] | None, extra: Sequence[str] = ()) -> tuple[PredictSettings, InputOptions]:
    """Validate all keyword arguments of a predict call at once; unknown names are an error."""
    reject_unknown(kwargs, (*SETTING_NAMES, *OPTION_NAMES, *extra), f"{where}()")
    return parse_settings(kwargs, known_classes), parse_options(kwargs)


# --- the spellings of the Supervisely Prediction API draft and Scale Launch, accepted by predict() --------------
VIDEO_PARAM_NAMES = ("stride", "start_frame", "end_frame", "num_frames", "duration", "tracking", "tracking_config", "annotated_video", "traces")
CALLBACK_KWARGS = ("callback_url", "callback_auth_kind", "callback_auth_username", "callback_auth_password")
SEED_KWARGS = ("settings", "video_params", "image_id", *CALLBACK_KWARGS)


def _merge(into: dict[str, Any], extra: Any, name: str, accepted: Sequence[str], where: str) -> None:
    if not isinstance(extra, Mapping):
        raise InvalidSettingError(f"{name} must be a dict, got {extra!r}")
    reject_unknown(extra, accepted, f"{where}({name}=...)")
    for key, value in extra.items():
        if key in into and into[key] != value:
            raise InvalidSettingError(f"{key} is given twice, as {key}={into[key]!r} and in {name} as {value!r}")
        into[key] = value


def expand_seed_kwargs(kwargs: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``settings={...}``, ``video_params={...}`` and ``image_id=`` folded into ordinary keywords (still validated
    strictly afterwards), and the completion callback as ``{"url", "username", "password"}`` (or None)."""
    out = {k: v for k, v in kwargs.items() if k not in SEED_KWARGS}
    if kwargs.get("settings") is not None:
        _merge(out, kwargs["settings"], "settings", SETTING_NAMES, where)
    if kwargs.get("video_params") is not None:
        _merge(out, kwargs["video_params"], "video_params", VIDEO_PARAM_NAMES, where)
    if kwargs.get("image_id") is not None:
        if out.get("image_ids") is not None:
            raise InvalidSettingError("give image_id or image_ids, not both")
        out["image_ids"] = kwargs["image_id"]
    url = kwargs.get("callback_url")
    kind = kwargs.get("callback_auth_kind")
    user, password = kwargs.get("callback_auth_username"), kwargs.get("callback_auth_password")
    if url is None:
        given = [k for k in CALLBACK_KWARGS[1:] if kwargs.get(k) is not None]
        if given:
            raise InvalidSettingError(f"{', '.join(given)} only apply with callback_url")
        return out, None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidSettingError(f"callback_url must be an http:// or https:// URL, got {url!r}")
    if kind not in (None, "basic"):
        raise InvalidSettingError(f"callback_auth_kind must be 'basic' (mTLS is not supported), got {kind!r}")
    if kind == "basic" and not (isinstance(user, str) and user and isinstance(password, str)):
        raise InvalidSettingError("callback_auth_kind='basic' needs callback_auth_username and callback_auth_password strings")
    if kind is None and (user is not None or password is not None):
        raise InvalidSettingError("callback_auth_username/password need callback_auth_kind='basic'")
    return out, {"url": url, "username": user if kind else None, "password": password if kind else None}
