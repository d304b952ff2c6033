"""sightline: run detection and segmentation models over anything, review the results, keep the good ones.

    import sightline
    model = sightline.load("demo/shapes")
    preds = model.predict(input="photos/", recursive=True, conf=0.4)
"""

from sightline.engine.session import PredictionSession
from sightline.engine.status import SessionState, SessionStatus
from sightline.errors import (
    InputError,
    InvalidSettingError,
    ModelLoadError,
    PredictionFailedError,
    SessionTimeoutError,
    SightlineError,
    UnknownArgumentError,
)
from sightline.local import LocalModel, load
from sightline.models.base import Model, ModelInfo, Task
from sightline.models.zoo import ZooEntry, list_models
from sightline.prediction import Prediction
from sightline.settings import PredictSettings

__version__ = "0.1.0"

__all__ = [
    "InputError",
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
    "ZooEntry",
    "list_models",
    "load",
]
