"""``LocalModel``: a model running in this process, as returned by ``sightline.load``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sightline.api import PredictAPI
from sightline.engine.runner import SessionRunner
from sightline.engine.session import LocalPredictionSession, PredictionSession
from sightline.errors import InputError
from sightline.inputs.resolve import plan_input
from sightline.models.base import Model, ModelInfo
from sightline.models.zoo import load_model
from sightline.settings import split_kwargs


class LocalModel(PredictAPI):
    """Predict with an in-process model; the same calls work on a server-backed ``RemoteModel``."""

    def __init__(self, model: Model) -> None:
        self._model = model
        self._info = model.info()

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def model(self) -> Model:
        """The adapter underneath (for benchmarks and advanced use)."""
        return self._model

    def _start(self, where: str, input: Any, tqdm: Any, kwargs: dict[str, Any]) -> PredictionSession:
        settings, options = split_kwargs(kwargs, where, self._model.classes)
        if input is None:
            raise InputError("nothing to predict: pass input= (a path, URL, folder, video, image, array or a list)")
        plan = plan_input(input, options)
        runner = SessionRunner(self._model, plan, settings.resolved(self._model.default_settings))
        return LocalPredictionSession(runner.start(), progress_bar=tqdm)

    def close(self) -> None:
        super().close()
        self._model.close()

    def __repr__(self) -> str:
        return f"<LocalModel {self.name!r} {self.task.value} on {self._model.device}, {len(self.classes)} classes>"


def load(model: str | Path = "demo/shapes", device: str = "auto") -> LocalModel:
    """Load a model into this process: a zoo name (see ``sightline.list_models()``) or a checkpoint path."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
    return LocalModel(load_model(model, device))
