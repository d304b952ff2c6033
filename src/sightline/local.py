"""``LocalModel``: a model running in this process, as returned by ``sightline.load``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sightline.api import PredictAPI
from sightline.callbacks import send_callback
from sightline.engine.live import LiveStream
from sightline.engine.runner import SessionRunner
from sightline.engine.session import LocalPredictionSession, PredictionSession, chain_finish, chain_steps
from sightline.engine.video_steps import VideoSteps, parse_video_kwargs
from sightline.engine.worker import InferenceWorker, WorkerModel, prediction_of
from sightline.errors import InputError, InvalidSettingError
from sightline.inputs.resolve import plan_sources
from sightline.inputs.sources import collect_sources
from sightline.inputs.workspace import ID_SOURCES, pick_source, workspace_sources
from sightline.models.base import Model, ModelInfo
from sightline.models.torchvision_adapter import resolve_device
from sightline.models.zoo import load_model
from sightline.prediction import Prediction, prediction_bytes
from sightline.settings import UPLOAD_KWARGS, VIDEO_KWARGS, split_kwargs
from sightline.workspace.run_upload import RunUploader, upload_predictions
from sightline.workspace.store import Workspace
from sightline.workspace.uploads import UploadMode, parse_mode, parse_threshold


def _with_callback(finish: Any, callback: dict[str, Any] | None) -> Any:
    """``finish`` then, with ``callback_url``, a POST of the status (a local run has no results link)."""
    if callback is None:
        return finish

    def run(status: Any) -> None:
        if finish is not None:
            finish(status)
        send_callback(callback["url"], {"session_id": None, **status.to_dict(), "results": None}, callback["username"], callback["password"])

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

    def _start(self, where: str, input: Any, tqdm: Any, kwargs: dict[str, Any]) -> PredictionSession:
        engine = kwargs.pop("engine", None)
        if engine not in (None, "local", "ray"):
            raise InvalidSettingError(f"engine must be 'local' or 'ray', got {engine!r}")
        if engine == "ray":
            from sightline.raydata.start import start_ray_session  # Ray is imported only for a Ray job

            return start_ray_session(self, where, input, tqdm, kwargs)
        for k in ("ray_options", "resume_job"):
            if k in kwargs:
                raise InvalidSettingError(f"{k} only applies with engine='ray'")
        callback = kwargs.pop("_callback", None)
        extra = {k: kwargs.pop(k) for k in (*ID_SOURCES, *UPLOAD_KWARGS, *VIDEO_KWARGS, "device") if k in kwargs}
        settings, options = split_kwargs(kwargs, where, self._model.classes)
        if extra.get("device") is not None:
            self._move(extra.pop("device"))
        kind = pick_source(input, extra)
        sources = collect_sources(input, options) if kind == "input" else workspace_sources(self.workspace, extra, options)
        resolved = settings.resolved(self._model.default_settings)
        video = VideoSteps(**parse_video_kwargs(extra), stride=options.stride)
        uploader = self._uploader(extra, kind != "input", resolved)
        steps = [s for s in (video if video.active else None, uploader) if s is not None]
        runner = SessionRunner(
            self._runner_model,
            plan_sources(sources),
            resolved,
            postprocess=chain_steps(steps),
            on_finish=_with_callback(chain_finish(steps), callback),
            context={"upload": extra.get("upload"), "tracking": extra.get("tracking", False)},
        )
        session = LocalPredictionSession(runner.start(), progress_bar=tqdm)
        session.video_outputs = video.outputs
        return session

    def _move(self, device: Any) -> None:
        """``device=`` on a call moves the model there (on its own thread, between batches) for this and later calls."""
        if not isinstance(device, str):
            raise InvalidSettingError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
        target = str(resolve_device(device))
        if target != self._model.device:
            self._worker.call(lambda: self._model.to_device(target))
            self._info = self._model.info()

    def _uploader(self, extra: dict[str, Any], platform_input: bool, settings: Any) -> RunUploader | None:
        if extra.get("upload") is None:
            for k in ("upload_project", "iou_merge_threshold"):
                if k in extra:
                    raise InvalidSettingError(f"{k} only applies with upload=")
            return None
        if self.workspace is None:
            raise InputError("upload= needs a workspace: sightline.load(..., workspace=sightline.Workspace(...))")
        mode = parse_mode(extra["upload"])
        threshold = parse_threshold(extra.get("iou_merge_threshold", 0.9))
        return RunUploader(self.workspace, mode, self.name, settings.to_dict(), threshold, extra.get("upload_project"), platform_input)

    def live(self, *, tracking: bool = False, tracking_config: dict[str, Any] | None = None, **settings: Any) -> LiveStream:
        """A live stream: ``push(frame)`` each camera frame, get the newest prediction back."""
        parsed, _ = split_kwargs(settings, "live", self._model.classes)
        resolved = parsed.resolved(self._model.default_settings)
        config = parse_video_kwargs({"tracking": tracking, "tracking_config": tracking_config})["tracking_config"]

        def predict(image: Any) -> Prediction:
            (result,) = self._worker.predict([image], resolved)
            return prediction_of(result, image, source="<live>")

        return LiveStream(predict, config)

    def upload(self, predictions: list[Prediction], mode: str, *, project: str | None = None, iou_merge_threshold: float = 0.9,
               dry_run: bool = False, video: str | Path | None = None) -> dict[str, Any]:
        if self.workspace is None:
            raise InputError("upload needs a workspace: sightline.load(..., workspace=sightline.Workspace(...))")
        parsed = parse_mode(mode)
        with_video = video is not None and parsed is UploadMode.CREATE and not dry_run
        images = [prediction_bytes(p) for p in predictions] if parsed is UploadMode.CREATE and not with_video else None
        copies = [Prediction.from_dict(p.to_dict()) for p in predictions]  # the caller's objects stay as they are
        totals, project_id = upload_predictions(self.workspace, copies, parsed, model_name=self.name, threshold=parse_threshold(iou_merge_threshold),
                                                project_name=project, images=images, dry_run=dry_run,
                                                video_file=str(video) if with_video else None)
        return {"totals": totals.to_dict(), "project_id": project_id, "items": [p.upload for p in copies]}

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
