"""``LocalModel``: a model running in this process, as returned by ``sightline.load``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typing_extensions import Unpack

from sightline.engine.runner import SessionRunner
from sightline.engine.session import LocalPredictionSession, PredictionSession
from sightline.errors import InputError
from sightline.inputs.resolve import plan_input
from sightline.models.base import Model, ModelInfo, Task
from sightline.models.zoo import load_model
from sightline.prediction import Prediction
from sightline.settings import PredictKwargs, split_kwargs


class LocalModel:
    """Predict with an in-process model; the same calls work on a server-backed model."""

    def __init__(self, model: Model) -> None:
        self._model = model

    @property
    def info(self) -> ModelInfo:
        return self._model.info()

    @property
    def name(self) -> str:
        return self._model.name

    @property
    def classes(self) -> list[str]:
        return list(self._model.classes)

    @property
    def task(self) -> Task:
        return self._model.task

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

    def predict_detached(self, input: Any = None, *, tqdm: Any = False, **kwargs: Unpack[PredictKwargs]) -> PredictionSession:
        """Start predicting in the background and return the session at once (``tqdm=True`` shows a bar)."""
        return self._start("predict_detached", input, tqdm, dict(kwargs))

    def predict(self, input: Any = None, *, tqdm: Any = False, **kwargs: Unpack[PredictKwargs]) -> list[Prediction]:
        """Predict and return one ``Prediction`` per image or sampled video frame, in input order."""
        with self._start("predict", input, tqdm, dict(kwargs)) as session:
            return list(session)

    def close(self) -> None:
        self._model.close()

    def __enter__(self) -> "LocalModel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LocalModel {self.name!r} {self.task.value} on {self._model.device}, {len(self.classes)} classes>"


def load(model: str | Path = "demo/shapes", device: str = "auto") -> LocalModel:
    """Load a model into this process: a zoo name (see ``sightline.list_models()``) or a checkpoint path."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
    return LocalModel(load_model(model, device))
