"""sightline: run detection and segmentation models over anything, review the results, keep the good ones.

    import sightline
    model = sightline.load("demo/shapes")            # in this process
    model = sightline.deploy("demo/shapes")          # behind a local HTTP server it starts
    model = sightline.connect("http://host:8000")    # behind a running server
    preds = model.predict(input="photos/", recursive=True, conf=0.4)
"""

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
    NotFoundError,
    PayloadTooLargeError,
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
from sightline.models.base import Model, ModelInfo, Task
from sightline.models.zoo import ZooEntry, list_models
from sightline.prediction import Prediction
from sightline.settings import PredictSettings
from sightline.workspace.store import Workspace
from sightline.workspace.uploads import UploadMode

__version__ = "0.1.0"

__all__ = [
    "AsyncPredictionSession",
    "AuthenticationError",
    "ConflictError",
    "DeployError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PredictionFuture",
    "RateLimitedError",
    "RemoteModel",
    "RequestTimeoutError",
    "ResultsNotReadyError",
    "ServerConnectionError",
    "ServerError",
    "ServiceUnavailableError",
    "connect",
    "deploy",
    "InputError",
    "InsufficientStorageError",
    "InvalidSettingError",
    "LocalModel",
    "Model",
    "ModelInfo",
    "ModelLoadError",
    "Prediction",
    "PredictionFailedError",
    "PredictionSession",
    "PredictSettings",
    "SessionState",
    "SessionStatus",
    "SessionTimeoutError",
    "SightlineError",
    "Task",
    "UnknownArgumentError",
    "UploadMode",
    "Workspace",
    "ZooEntry",
    "list_models",
    "load",
]
