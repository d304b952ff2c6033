"""sightline: run detection and segmentation models over anything, review the results, keep the good ones.

    import sightline
    model = sightline.load("demo/shapes")            # in this process
    model = sightline.deploy("demo/shapes")          # behind a local HTTP server it starts
    model = sightline.connect("http://host:8000")    # behind a running server
    preds = model.predict(input="photos/", recursive=True, conf=0.4)
"""

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names load on first use (PEP 562), so `import sightline` and the command line's `--help` stay
# fast: torch, OpenCV and Gradio are imported only when something that needs them is touched.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "sightline.api": ("AsyncPredictionSession", "PredictionFuture"),
    "sightline.client.deploy": ("deploy",),
    "sightline.client.remote": ("RemoteModel", "connect"),
    "sightline.engine.session": ("PredictionSession",),
    "sightline.engine.status": ("SessionState", "SessionStatus"),
    "sightline.errors": (
        "AuthenticationError", "ConflictError", "DeployError", "InputError", "InsufficientStorageError", "InvalidSettingError", "ModelLoadError", "ModelUnloadedError",
        "NotFoundError", "PayloadTooLargeError", "PermissionDeniedError", "PredictionFailedError", "RateLimitedError", "RequestTimeoutError",
        "ResultsNotReadyError", "ServerConnectionError", "ServerError", "ServiceUnavailableError", "SessionTimeoutError",
        "SightlineError", "UnknownArgumentError",
    ),
    "sightline.local": ("LocalModel", "load"),
    "sightline.models.base": ("Model", "ModelInfo", "Task", "ZooEntry"),
    "sightline.models.zoo": ("list_models",),
    "sightline.prediction": ("Prediction",),
    "sightline.settings": ("PredictSettings",),
    "sightline.upload_result": ("UploadResult",),
    "sightline.workspace.store": ("Workspace",),
    "sightline.workspace.uploads": ("UploadMode",),
}
# top-level modules of the `server` extra (pyproject.toml)
_SERVER_EXTRA = frozenset({"torch", "torchvision", "trackers", "av", "sqlalchemy", "alembic", "psycopg", "fastapi", "starlette",
                           "multipart", "uvicorn", "prometheus_client", "sse_starlette"})
_LAZY = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        try:
            value = getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:  # the base install is the client: say which extra brings the rest
            if (exc.name or "").split(".")[0] not in _SERVER_EXTRA:
                raise
            raise ModuleNotFoundError(f"sightline.{name} needs {exc.name!r}, which the client install leaves out: "
                                      "pip install 'sightline-cv[server]'", name=exc.name) from exc
    else:
        try:  # a submodule used as an attribute: sightline.workspace.records.Obj
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


if TYPE_CHECKING:  # what type checkers and IDEs see
    from sightline.api import AsyncPredictionSession, PredictionFuture
    from sightline.client.deploy import deploy
    from sightline.client.remote import RemoteModel, connect
    from sightline.engine.session import PredictionSession
    from sightline.engine.status import SessionState, SessionStatus
    from sightline.errors import (
        AuthenticationError,
        ConflictError,
        DeployError,
        InputError,
        InsufficientStorageError,
        InvalidSettingError,
        ModelLoadError,
        ModelUnloadedError,
        NotFoundError,
        PayloadTooLargeError,
        PermissionDeniedError,
        PredictionFailedError,
        RateLimitedError,
        RequestTimeoutError,
        ResultsNotReadyError,
        ServerConnectionError,
        ServerError,
        ServiceUnavailableError,
        SessionTimeoutError,
        SightlineError,
        UnknownArgumentError,
    )
    from sightline.local import LocalModel, load
    from sightline.models.base import Model, ModelInfo, Task, ZooEntry
    from sightline.models.zoo import list_models
    from sightline.prediction import Prediction
    from sightline.settings import PredictSettings
    from sightline.upload_result import UploadResult
    from sightline.workspace.store import Workspace
    from sightline.workspace.uploads import UploadMode

__all__ = [
    "AsyncPredictionSession",
    "AuthenticationError",
    "ConflictError",
    "DeployError",
    "InputError",
    "InsufficientStorageError",
    "InvalidSettingError",
    "LocalModel",
    "Model",
    "ModelInfo",
    "ModelLoadError",
    "ModelUnloadedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PredictSettings",
    "Prediction",
    "PredictionFailedError",
    "PredictionFuture",
    "PredictionSession",
    "RateLimitedError",
    "RemoteModel",
    "RequestTimeoutError",
    "ResultsNotReadyError",
    "ServerConnectionError",
    "ServerError",
    "ServiceUnavailableError",
    "SessionState",
    "SessionStatus",
    "SessionTimeoutError",
    "SightlineError",
    "Task",
    "UnknownArgumentError",
    "UploadMode",
    "UploadResult",
    "Workspace",
    "ZooEntry",
    "connect",
    "deploy",
    "list_models",
    "load",
]
