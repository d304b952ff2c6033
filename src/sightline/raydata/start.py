"""``predict_detached(..., engine="ray")`` on a ``LocalModel``: the call checked, the job made or resumed, a session returned."""

from __future__ import annotations

import uuid
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sightline.engine.session import LocalPredictionSession
from sightline.engine.status import SessionState
from sightline.errors import InputError, InvalidSettingError
from sightline.inputs.workspace import ID_SOURCES, pick_source, workspace_images
from sightline.raydata.job import JobSpec, RayDataJob, RayOptions, job_owner
from sightline.raydata.ledger import Ledger
from sightline.settings import UPLOAD_KWARGS, VIDEO_KWARGS, PredictSettings, split_kwargs
from sightline.workspace.run_upload import RunUploader
from sightline.workspace.uploads import UploadMode, parse_mode, parse_threshold

if TYPE_CHECKING:
    from sightline.local import LocalModel

RAY_KWARGS = ("ray_options", "resume_job")  # with engine="ray" only


def _settings_of(d: dict[str, Any]) -> PredictSettings:
    """The stored settings of a job, as the dataclass (JSON turned its tuples into lists)."""
    known = {f.name for f in fields(PredictSettings)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
    return PredictSettings(**values)


class RayPredictionSession(LocalPredictionSession):
    """A session whose run is a Ray Data job; ``job_id`` resumes it (``resume_job=``) after a stop or a crash."""

    @property
    def job_id(self) -> str:
        return self._runner.id  # type: ignore[attr-defined,no-any-return]


def start_ray_session(model: LocalModel, where: str, input: Any, tqdm: Any, kwargs: dict[str, Any]) -> RayPredictionSession:
    if kwargs.pop("_callback", None) is not None:
        raise InvalidSettingError("callback_url is not supported with engine='ray' (watch the session, or read it from a server on the same database)")
    options = RayOptions.parse(kwargs.pop("ray_options", None))
    resume = kwargs.pop("resume_job", None)
    if resume is not None and not isinstance(resume, str):
        raise InvalidSettingError(f"resume_job must be a job id (a string, as session.job_id gives), got {resume!r}")
    video = [k for k in VIDEO_KWARGS if k in kwargs]
    if video or kwargs.get("video_id") is not None or input is not None:
        raise InputError("engine='ray' runs over workspace images: give project_id, dataset_id or image_ids "
                         f"(not {'input=' if input is not None else 'video_id' if kwargs.get('video_id') is not None else video[0]})")
    if kwargs.pop("device", None) is not None:
        raise InvalidSettingError("device is not used with engine='ray': each model actor runs on a GPU when the cluster has one (ray_options num_gpus)")
    ws = model.workspace
    if ws is None:
        raise InputError("engine='ray' needs a workspace: sightline.load(..., workspace=sightline.Workspace(...))")
    given = {k: kwargs.pop(k) for k in (*ID_SOURCES, *UPLOAD_KWARGS) if k in kwargs}
    split_kwargs(kwargs, where, model.classes)  # unknown names and bad values, before anything is written
    sid = resume or uuid.uuid4().hex
    ledger = Ledger(ws.engine, sid, job_owner())
    stored: dict[str, Any] = {}
    if resume is not None:
        row = ledger.claim()  # refused unless stopped, interrupted, or its driver died
        try:
            if row.model != model.name:
                raise InputError(f"job {sid} runs model {row.model!r}: resume it with that model, not {model.name!r}")
            return _start(model, ledger, row.definition, given, kwargs, options, tqdm, where, resumed=True)
        except BaseException:
            ledger.finish(SessionState.INTERRUPTED, None, None)  # released again: resumable as before
            raise
    return _start(model, ledger, stored, given, kwargs, options, tqdm, where, resumed=False)


def _start(model: LocalModel, ledger: Ledger, stored: dict[str, Any], given: dict[str, Any], kwargs: dict[str, Any],
           options: RayOptions, tqdm: Any, where: str, *, resumed: bool) -> RayPredictionSession:
    ws = model.workspace
    assert ws is not None
    sid = ledger.sid
    resume = sid if resumed else None
    settings, _ = split_kwargs(kwargs, where, model.classes)
    resolved = settings.resolved(model.model.default_settings)
    if resumed:
        request = stored.get("request", {})
        for k, v in given.items():
            if v is not None and request.get(k) != v:
                raise InputError(f"job {sid} was started with {k}={request.get(k)!r}, not {v!r}: a resumed job runs what it started with")
        given = {k: v for k, v in request.items() if k in (*ID_SOURCES, *UPLOAD_KWARGS)}
        resolved = _settings_of(request.get("settings", {}))
        changed = sorted(k for k in kwargs if getattr(settings, k, None) != getattr(resolved, k, None))
        if changed:  # the same command again is fine; other settings would mix two runs in one job
            raise InputError(f"job {sid} runs with the settings it started with; "
                             + ", ".join(f"{k}={getattr(resolved, k)!r} (not {kwargs[k]!r})" for k in changed))
    kind = pick_source(None, given)
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
        "run": {"run_id": upload["run_id"], "project_id": uploader.project_id} if upload else {},
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
