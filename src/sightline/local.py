"""``LocalModel``: a model running in this process, as returned by ``sightline.load``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sightline.api import PredictAPI
from sightline.callbacks import send_callback
from sightline.engine.live import LiveStream
from sightline.engine.runner import SessionRunner
from sightline.engine.session import LocalPredictionSession, PredictionSession, chain_finish, chain_steps
from sightline.engine.video_steps import VideoSteps, video_args
from sightline.engine.worker import InferenceWorker, WorkerModel, prediction_of
from sightline.errors import InputError, InvalidSettingError
from sightline.inputs.resolve import plan_sources
from sightline.inputs.sources import collect_sources
from sightline.inputs.workspace import workspace_sources
from sightline.models.base import Model, ModelInfo, ZooEntry
from sightline.models.torchvision_adapter import resolve_device
from sightline.models.zoo import list_models, load_model
from sightline.prediction import Prediction, prediction_bytes
from sightline.request import Callback, LiveRequest, PredictRequest
from sightline.upload_result import UploadResult
from sightline.workspace.run_upload import RunUploader, upload_predictions
from sightline.workspace.store import Workspace
from sightline.workspace.uploads import UploadMode, parse_mode, parse_threshold


def _with_callback(finish: Any, callback: Callback | None) -> Any:
    """``finish`` then, with ``callback_url``, a POST of the status (a local run has no results link)."""
    if callback is None:
        return finish

    def run(status: Any) -> None:
        if finish is not None:
            finish(status)
        send_callback(callback.url, {"session_id": None, **status.to_dict(), "results": None}, callback.username, callback.password)

    return run


LOCAL_MAX_BATCH = 256  # the session's batch_size decides; the worker only splits larger requests


class LocalModel(PredictAPI):
    """Predict with an in-process model; the same calls work on a server-backed ``RemoteModel``."""

    def __init__(self, model: Model, workspace: Workspace | None = None, source: str | None = None) -> None:
        self._model = model
        self.source = source  # the zoo name or checkpoint path it was loaded from (a Ray job's actors load it again)
        # one long-lived thread runs the model for every session and live stream: fresh threads each
        # start their own OpenMP team, which measurably slows inference on small CPUs
        self._worker = InferenceWorker(model, max_batch_size=LOCAL_MAX_BATCH, batch_wait_ms=0.0)
        self._runner_model = WorkerModel(self._worker)
        self._info = model.info()
        self.workspace = workspace

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def model(self) -> Model:
        """The adapter underneath (for benchmarks and advanced use)."""
        return self._model

    def _start(self, request: PredictRequest, input: Any, tqdm: Any) -> PredictionSession:
        if request.engine == "ray":
            from sightline.raydata.start import start_ray_session  # Ray is imported only for a Ray job

            return start_ray_session(self, request, input, tqdm)
        settings, options = request.predict_settings(), request.input_options()  # classes were checked when it was parsed
        if request.device is not None:
            self._move(request.device)
        kind = request.source(input)
        sources = collect_sources(input, options) if kind == "input" else workspace_sources(self.workspace, request, options)
        resolved = settings.resolved(self._model.default_settings)
        video = VideoSteps(**video_args(request), stride=options.stride)
        uploader = self._uploader(request, kind != "input", resolved)
        steps = [s for s in (video if video.active else None, uploader) if s is not None]
        runner = SessionRunner(
            self._runner_model,
            plan_sources(sources),
            resolved,
            postprocess=chain_steps(steps),
            on_finish=_with_callback(chain_finish(steps), request.callback),
            context={"upload": request.upload, "tracking": request.tracking},
        )
        return LocalPredictionSession(runner.start(), progress_bar=tqdm, video=video if video.annotated_video else None)

    def _move(self, device: Any) -> None:
        """``device=`` on a call moves the model there (on its own thread, between batches) for this and later calls."""
        if not isinstance(device, str):
            raise InvalidSettingError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
        target = str(resolve_device(device))
        if target != self._model.device:
            self._worker.call(lambda: self._model.to_device(target))
            self._info = self._model.info()

    def _uploader(self, request: PredictRequest, platform_input: bool, settings: Any) -> RunUploader | None:
        if request.upload is None:
            return None
        if self.workspace is None:
            raise InputError("upload= needs a workspace: sightline.load(..., workspace=sightline.Workspace(...))")
        threshold = request.iou_merge_threshold if request.iou_merge_threshold is not None else 0.9
        return RunUploader(self.workspace, UploadMode(request.upload), self.name, settings.to_dict(), threshold, request.upload_project, platform_input)

    def live(self, *, tracking: bool = False, tracking_config: dict[str, Any] | None = None, **settings: Any) -> LiveStream:
        """A live stream: ``push(frame)`` each camera frame, get the newest prediction back."""
        request = LiveRequest.from_kwargs(tracking, tracking_config, settings, self._model.classes)
        resolved = request.predict_settings().resolved(self._model.default_settings)
        config = video_args(request)["tracking_config"]

        def predict(image: Any) -> Prediction:
            (result,) = self._worker.predict([image], resolved)
            return prediction_of(result, image, source="<live>")

        return LiveStream(predict, config)

    def list_models(self) -> list[ZooEntry]:
        return list_models()

    def loaded_models(self) -> list[ModelInfo]:
        return [self.info]

    def upload(self, predictions: list[Prediction], mode: str, *, project: str | None = None, iou_merge_threshold: float = 0.9,
               dry_run: bool = False, video: str | Path | None = None, details: bool = False) -> UploadResult:
        if self.workspace is None:
            raise InputError("upload needs a workspace: sightline.load(..., workspace=sightline.Workspace(...))")
        parsed = parse_mode(mode)
        with_video = video is not None and parsed is UploadMode.CREATE and not dry_run
        images = [prediction_bytes(p) for p in predictions] if parsed is UploadMode.CREATE and not with_video else None
        copies = [Prediction.from_dict(p.to_dict()) for p in predictions]  # the caller's objects stay as they are
        totals, project_id = upload_predictions(self.workspace, copies, parsed, model_name=self.name, threshold=parse_threshold(iou_merge_threshold),
                                                project_name=project, images=images, dry_run=dry_run,
                                                video_file=str(video) if with_video else None, details=details)
        return UploadResult(totals, project_id, [p.upload for p in copies])

    def close(self) -> None:
        super().close()
        self._worker.close()

    def __repr__(self) -> str:
        return f"<LocalModel {self.name!r} {self.task.value} on {self._model.device}, {len(self.classes)} classes>"


def load(model: str | Path = "demo/shapes", device: str = "auto", workspace: Workspace | str | Path | None = None) -> LocalModel:
    """Load a model into this process: a zoo name (see ``sightline.list_models()``) or a checkpoint path.

    ``workspace`` (a ``Workspace`` or its location) lets ``predict`` take workspace IDs and ``upload=``.
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
    ws = workspace if isinstance(workspace, Workspace) or workspace is None else Workspace(workspace)
    source = str(Path(model).resolve()) if Path(model).is_file() else str(model)  # a path every actor of a Ray job opens
    return LocalModel(load_model(model, device), ws, source=source)


# documented and shown as sightline.<name>, where users import them from
LocalModel.__module__ = "sightline"
load.__module__ = "sightline"
