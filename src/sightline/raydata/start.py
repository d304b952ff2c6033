"""``predict_detached(..., engine="ray")`` on a ``LocalModel``: the call checked, the job made or resumed, a session returned."""

from __future__ import annotations

import uuid
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sightline.engine.session import LocalPredictionSession
from sightline.engine.status import SessionState
from sightline.errors import InputError, InvalidSettingError
from sightline.inputs.workspace import workspace_images
from sightline.raydata.job import JobSpec, RayDataJob, RayOptions, job_owner
from sightline.raydata.ledger import Ledger
from sightline.request import PredictRequest, UploadArgs, WorkspaceSource
from sightline.settings import PredictSettings
from sightline.workspace.run_upload import RunUploader
from sightline.workspace.uploads import UploadMode, parse_mode, parse_threshold

if TYPE_CHECKING:
    from sightline.local import LocalModel

ID_SOURCES = tuple(WorkspaceSource.model_fields)
UPLOAD_ARGS = tuple(UploadArgs.model_fields)


def _settings_of(d: dict[str, Any]) -> PredictSettings:
    """The stored settings of a job, as the dataclass (JSON turned its tuples into lists)."""
    known = {f.name for f in fields(PredictSettings)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
    return PredictSettings(**values)  # type: ignore[arg-type]  # the values were checked when the job was made


class RayPredictionSession(LocalPredictionSession):
    """A session whose run is a Ray Data job; ``job_id`` resumes it (``resume_job=``) after a stop or a crash."""

    @property
    def job_id(self) -> str:
        return self._runner.id  # type: ignore[attr-defined]


def start_ray_session(model: LocalModel, request: PredictRequest, input: Any, tqdm: Any) -> RayPredictionSession:
    """Start (or, with ``resume_job``, run on) a Ray Data job for a request parsed already."""
    if request.callback is not None:
        raise InvalidSettingError("callback_url is not supported with engine='ray' (watch the session, or read it from a server on the same database)")
    options = RayOptions.parse(request.ray_options)
    video = [k for k in ("tracking", "tracking_config", "annotated_video", "traces") if k in request.model_fields_set]
    if video or request.video_id is not None or input is not None:
        raise InputError("engine='ray' runs over workspace images: give project_id, dataset_id or image_ids "
                         f"(not {'input=' if input is not None else 'video_id' if request.video_id is not None else video[0]})")
    if request.device is not None:
        raise InvalidSettingError("device is not used with engine='ray': each model actor runs on a GPU when the cluster has one (ray_options num_gpus)")
    ws = model.workspace
    if ws is None:
        raise InputError("engine='ray' needs a workspace: sightline.load(..., workspace=sightline.Workspace(...))")
    given = {k: getattr(request, k) for k in (*ID_SOURCES, *UPLOAD_ARGS) if getattr(request, k) is not None}
    # the settings the caller named (the rest are the model's defaults): a resumed job compares only these
    named = sorted(request.settings.model_fields_set) if request.settings is not None else []
    settings = request.predict_settings()
    resume = request.resume_job
    sid = resume or uuid.uuid4().hex
    ledger = Ledger(ws.engine, sid, job_owner())
    if resume is not None:
        row = ledger.claim()  # refused unless stopped, interrupted, or its driver died
        try:
            if row.model != model.name:
                raise InputError(f"job {sid} runs model {row.model!r}: resume it with that model, not {model.name!r}")
            return _start(model, ledger, row.definition, given, settings, named, options, tqdm, resumed=True)
        except BaseException:
            ledger.finish(SessionState.INTERRUPTED, None, None)  # released again: resumable as before
            raise
    return _start(model, ledger, {}, given, settings, named, options, tqdm, resumed=False)


def _start(model: LocalModel, ledger: Ledger, stored: dict[str, Any], given: dict[str, Any], settings: PredictSettings,
           named: list[str], options: RayOptions, tqdm: Any, *, resumed: bool) -> RayPredictionSession:
    ws = model.workspace
    assert ws is not None
    sid = ledger.sid
    resume = sid if resumed else None
    resolved = settings.resolved(model.model.default_settings)
    if resumed:
        request = stored.get("request", {})
        for k, v in given.items():
            if v is not None and request.get(k) != v:
                raise InputError(f"job {sid} was started with {k}={request.get(k)!r}, not {v!r}: a resumed job runs what it started with")
        given = {k: v for k, v in request.items() if k in (*ID_SOURCES, *UPLOAD_ARGS)}
        resolved = _settings_of(request.get("settings", {}))
        changed = [k for k in named if getattr(settings, k, None) != getattr(resolved, k, None)]
        if changed:  # the same command again is fine; other settings would mix two runs in one job
            raise InputError(f"job {sid} runs with the settings it started with; "
                             + ", ".join(f"{k}={getattr(resolved, k)!r} (not {getattr(settings, k)!r})" for k in changed))
    kinds = [k for k in ID_SOURCES if k in given]
    if len(kinds) != 1:
        raise InputError("engine='ray' runs over workspace images: give one of project_id, dataset_id or image_ids")
    kind = kinds[0]
    if kind == "video_id":
        raise InputError("engine='ray' runs over workspace images: give project_id, dataset_id or image_ids, not video_id")
    images = workspace_images(ws, kind, given[kind])

    uploader = None
    upload = None
    if given.get("upload") is not None:
        mode = parse_mode(given["upload"])
        if mode is UploadMode.CREATE:
            raise InputError("engine='ray' uploads into the images it reads: upload='append', 'replace' or 'iou_merge' (not 'create')")
        threshold = parse_threshold(given.get("iou_merge_threshold", 0.9))
        run_id = stored.get("run", {}).get("run_id")
        uploader = RunUploader(ws, mode, model.name, resolved.to_dict(), threshold, None, True, run_id=run_id)
        upload = {"mode": mode.value, "threshold": threshold, "run_id": uploader.run_id}
    elif any(k in given for k in ("upload_project", "iou_merge_threshold")):
        raise InvalidSettingError("upload_project and iou_merge_threshold only apply with upload=")

    description = f"{len(images)} workspace images ({kind}={given[kind]!r}) on Ray Data"
    definition = {
        "request": {**given, "settings": resolved.to_dict(), "engine": "ray"},
        "context": {"input": description, "engine": "ray"},
        "run": {"run_id": uploader.run_id, "project_id": uploader.project_id} if uploader is not None else {},
    }
    spec = JobSpec(images=images, model=model.source if model.source is not None else model.model, model_name=model.name,
                   settings=resolved, database=ws.url, blobs=ws.blobs.location, blob_options=ws.blobs.options, upload=upload, description=description,
                   definition=definition)
    try:
        if resume is None:
            ledger.create(model.name, definition, len(images))
        else:
            ledger.set_definition({**stored, **definition})
    except BaseException:
        if uploader is not None and resume is None:
            uploader.abandon("the job could not be recorded")
        raise
    job = RayDataJob(ledger, spec, options, uploader, resumed=resume is not None)
    return RayPredictionSession(job.start(), progress_bar=tqdm)  # type: ignore[arg-type]
