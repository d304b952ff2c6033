"""Supervisely's serving protocol under ``/supervisely``, for ``ModelAPI(url=...)`` and ``PredictionSession``.

Every call is ``POST /supervisely/{method}`` with ``{"state", "context", "api_token"}`` (or multipart with a
``state`` field). Runs become sightline sessions, started by the same code as ``POST /v1/sessions`` (limits,
workspace IDs, upload modes, tracking); the ``inference_request_uuid`` is the session id, so the results
stay readable at ``/v1/sessions/{uuid}/results``. Supervisely *pops* results: a per-request cursor here
gives each result to ``pop_inference_results`` once, while the session keeps them all.
"""

from __future__ import annotations

import os
import resource
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from sightline.engine.runner import SessionRunner
from sightline.engine.status import SessionState
from sightline.errors import InputError, InvalidSettingError, NotFoundError
from sightline.models.base import ModelInfo, Task
from sightline.models.zoo import list_models
from sightline.prediction import Prediction
from sightline.server.callers import caller_of
from sightline.server.compat.common import check_key, error_route
from sightline.server.compat.sly_format import pending_result, project_meta, video_annotation
from sightline.server.requests import as_dict, is_multipart, read_form, read_json, save_upload
from sightline.server.routers.sessions import start_session
from sightline.server.sessions import ServerSession, StoredRun
from sightline.server.state import ServerState, get_state
from sightline.server.uploads import Upload
from sightline.settings import parse_options
from sightline.video.probe import probe_video
from sightline.video.sampling import frame_window
from sightline.video.tracking import TRACKERS, tracker_settings


def _render(kind: str, message: str, status: int) -> dict[str, Any]:
    # the shape of Supervisely's own server errors, plus ``exception`` as its inference requests report them;
    # the "traceback" is the reason in words: a public server shows no internals
    return {"success": False, "message": message, "detail": message, "exception": {"type": kind, "message": message, "traceback": message}}


router = APIRouter(prefix="/supervisely", tags=["compat: supervisely"], route_class=error_route(_render))

KEY_HOW = "put the key in the URL (ModelAPI(url='http://sightline:KEY@host/supervisely')), the API_TOKEN variable, or 'Authorization: Bearer <key>'"
MAX_POP = 256  # results per pop_inference_results answer; the client pops again at once while any remain
# Supervisely setting → sightline's
SETTINGS = {"conf": "conf", "confidence_threshold": "conf", "iou": "iou", "iou_threshold": "iou", "classes": "classes", "img_size": "img_size",
            "batch_size": "batch_size", "agnostic_nms": "agnostic_nms", "max_detections": "max_detections", "max_det": "max_detections"}
# what the client puts in ``settings`` besides settings: read from ``state`` (or settings) as options, or no-ops
NOT_SETTINGS = {"show_progress", "recursive", "stride", "step", "start_frame", "start_frame_index", "startFrameIndex", "num_frames",
                "frames_count", "framesCount", "end_frame", "endFrameIndex", "duration", "direction", "upload_mode",
                "iou_merge_threshold", "model_prediction_suffix", "cache_project_on_model", "cache_datasets_on_model", "output_project_id"}
STAGES = {SessionState.PENDING: "preparing", SessionState.RUNNING: "inference", SessionState.STOPPING: "inference",
          SessionState.COMPLETED: "finished", SessionState.STOPPED: "cancelled", SessionState.FAILED: "error"}


@dataclass
class Call:
    request: Request
    state: ServerState
    params: dict[str, Any]  # the request's ``state``
    files: list[UploadFile] = field(default_factory=list)

    def model(self) -> ModelInfo:
        name = self.params.get("model")
        return self.state.models.get(name if isinstance(name, str) else None).model.info()

    def session(self) -> ServerSession:
        sid = self.params.get("inference_request_uuid")
        if not isinstance(sid, str) or not sid:
            raise InputError("state.inference_request_uuid is required")
        return self.state.sessions.get(sid, caller_of(self.request))


class Cursors:
    """How far ``pop_inference_results`` has read each request; one lock per request so two polls never
    pop the same result. Entries go with ``clear_inference_request`` or when their session is gone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at: dict[str, list[Any]] = {}  # uuid -> [cursor, lock]

    def entry(self, sid: str) -> list[Any]:
        with self._lock:
            return self._at.setdefault(sid, [0, threading.Lock()])

    def drop(self, sid: str) -> None:
        with self._lock:
            self._at.pop(sid, None)

    def prune(self, alive: set[str]) -> None:
        with self._lock:
            for sid in [s for s in self._at if s not in alive]:
                del self._at[sid]


_cursors_lock = threading.Lock()


def _cursors(request: Request) -> Cursors:
    with _cursors_lock:
        if not hasattr(request.app.state, "supervisely_cursors"):
            request.app.state.supervisely_cursors = Cursors()
        return request.app.state.supervisely_cursors


# --- model info -----------------------------------------------------------------------------------
TASK_TYPES = {Task.INSTANCE_SEGMENTATION: "instance segmentation", Task.DETECTION: "object detection"}


def _session_info(call: Call) -> dict[str, Any]:
    info = call.model()
    return {
        "app_name": "sightline", "session_id": None, "model_name": info.name, "task type": TASK_TYPES.get(info.task, info.task.value),
        "number_of_classes": len(info.classes), "sliding_window_support": "none", "videos_support": True,
        "async_video_inference_support": True, "tracking_on_videos_support": True, "async_image_inference_support": True,
        "tracking_algorithms": list(TRACKERS), "batch_inference_support": True, "max_batch_size": call.state.config.max_batch_size,
    }


def _deploy_info(call: Call) -> dict[str, Any]:
    info = call.model()
    return {"checkpoint_name": info.name, "model_name": info.name, "architecture": info.framework, "checkpoint_url": None,
            "custom_checkpoint_path": None, "model_source": "sightline", "task_type": TASK_TYPES.get(info.task, info.task.value),
            "device": info.device, "runtime": "PyTorch", "model_precision": "FP32", "hardware": info.device, "deploy_params": {}}


def _settings(call: Call) -> dict[str, Any]:
    info = call.model()
    defaults = {"conf": 0.25, "iou": 0.5, "max_detections": 100, "agnostic_nms": False, **info.default_settings}
    return {"settings": {**defaults, "classes": None, "img_size": list(info.input_size) if info.input_size else None, "batch_size": 4}}


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is None or isinstance(v, (bool, int, float, str))}


def _tracking_settings(call: Call) -> dict[str, Any]:
    return {name: _json_safe(tracker_settings(name)) for name in TRACKERS}


def _status(call: Call) -> dict[str, Any]:
    running = sum(1 for s in call.state.sessions.list() if not s.status().state.is_final)
    page, pages = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_PHYS_PAGES")
    gpu = (torch.cuda.memory_allocated(), torch.cuda.get_device_properties(0).total_memory) if torch.cuda.is_available() else (0, 0)
    return {
        "is_deployed": bool(call.state.models.loaded()),
        "progress": {"message": f"{running} running" if running else "Ready", "current": 0, "total": 1},
        "gpu_memory": {"allocated": gpu[0], "total": gpu[1]},
        "ram_memory": {"allocated": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "total": page * pages},
    }


def _deploy(call: Call) -> dict[str, Any]:
    raise InputError("deploy_from_api is not served: sightline loads models with POST /v1/models/load (a zoo name or checkpoint); "
                     "this layer predicts with the server's default model")


# --- starting runs --------------------------------------------------------------------------------
def _first(sources: list[dict[str, Any]], *names: str) -> Any:
    for src in sources:
        for name in names:
            if src.get(name) is not None:
                return src[name]
    return None


def _run_body(call: Call, info: ModelInfo) -> tuple[dict[str, Any], list[str]]:
    """The ``POST /v1/sessions`` body for a run's ``state``, and the settings it ignored."""
    params = call.params
    raw = as_dict(params.get("settings"), "state.settings")
    if params.get("output_project_id") is not None or raw.get("output_project_id") is not None:
        raise InvalidSettingError("output_project_id is not supported: uploads go to the images they came from, or a new project "
                                  "with upload_mode='create'")
    settings: dict[str, Any] = {}
    for theirs, ours in SETTINGS.items():
        value = params.get(theirs) if theirs == "batch_size" and params.get(theirs) is not None else raw.get(theirs)
        if value is not None:
            settings[ours] = value
    ignored = sorted(k for k in raw if k not in SETTINGS and k not in NOT_SETTINGS)
    both = [params, raw]
    direction = _first(both, "direction")
    if direction not in (None, "forward"):
        raise InvalidSettingError(f"direction {direction!r} is not supported: sightline reads videos forward")
    options: dict[str, Any] = {"recursive": False}
    start, stride = _first(both, "start_frame", "start_frame_index", "startFrameIndex"), _first(both, "stride", "step")
    end, last = _first(both, "end_frame"), _first(both, "endFrameIndex")
    count, duration = _first(both, "num_frames", "frames_count", "framesCount"), _first(both, "duration")
    if end is None and last is not None:  # endFrameIndex is inclusive, end_frame exclusive (as in sightline)
        if not isinstance(last, int) or isinstance(last, bool):
            raise InvalidSettingError(f"endFrameIndex must be a whole number, got {last!r}")
        end = last + 1
    for name, value in (("start_frame", start), ("stride", stride), ("end_frame", end), ("num_frames", count), ("duration", duration)):
        if value is not None:
            options[name] = value
    body: dict[str, Any] = {"model": info.name, "settings": settings, "options": options}
    tracker = params.get("tracker")
    if tracker is not None:
        config = as_dict(params.get("tracker_settings"), "state.tracker_settings")
        body.update(tracking=True, tracking_config={"tracker": tracker, **config})
    mode = params.get("upload_mode")
    if mode is not None:
        body["upload"] = mode
        if params.get("iou_merge_threshold") is not None:
            body["iou_merge_threshold"] = params["iou_merge_threshold"]
    return body, ignored


def _started(session: ServerSession, ignored: list[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {"message": "Scheduled inference task.", "inference_request_uuid": session.id}
    if ignored:
        answer["ignored_settings"] = ignored  # accepted, as Supervisely's servers do, and named so nobody wonders
    return answer


def _stage_files(call: Call, video: bool) -> tuple[Path, list[tuple[Path, dict[str, Any], int]]]:
    """Save the uploaded files under server-chosen names and count the items each gives (a video its frames)."""
    if not call.files:
        raise InputError("at least one file is expected in the multipart 'files' field")
    if video and len(call.files) != 1:
        raise InputError(f"inference_video_async takes one video file, got {len(call.files)}")
    if len(call.files) > call.state.config.max_items_per_request:
        raise InputError(f"{len(call.files)} files in one request, over the limit of {call.state.config.max_items_per_request}")
    folder = call.state.sessions.root / f"incoming-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    return folder, [(save_upload(f, folder), {"source": f.filename or f"files[{i}]"}, 1) for i, f in enumerate(call.files)]


async def _upload_run(call: Call, video: bool) -> dict[str, Any]:
    info = call.model()
    body, ignored = _run_body(call, info)
    if not video:
        for name in ("start_frame", "stride", "end_frame", "num_frames", "duration"):
            body["options"].pop(name, None)  # the client sends stride=1 style keys for images too
        body.pop("tracking", None), body.pop("tracking_config", None)
    folder, staged = await run_in_threadpool(_stage_files, call, video)
    try:
        if video:
            options = parse_options(body["options"])
            path, meta = staged[0][0], staged[0][1]
            probed = await run_in_threadpool(probe_video, path, max_pixels=call.state.config.max_image_pixels)
            staged = [(path, meta, len(frame_window(probed, options)))]
        body["total"] = sum(n for _, _, n in staged)
        session = await start_session(call.state, body, caller_of(call.request))
        if video:  # kept (in the database too) for the final result's VideoAnnotation
            session.definition["video_frames"] = probed.frame_count
            if session.db is not None:
                session.db.set_definition(session.id, session.definition)
        for path, meta, n in staged:
            target = session.folder / path.name
            shutil.move(path, target)
            session.uploads.add(Upload("video" if video else "image", meta, path=target), n)
        session.uploads.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _started(session, ignored)


async def _batch_async(call: Call) -> dict[str, Any]:
    return await _upload_run(call, video=False)


async def _video_async(call: Call) -> dict[str, Any]:
    return await _upload_run(call, video=True)


async def _ids_run(call: Call, ids: dict[str, Any], video: bool = False) -> dict[str, Any]:
    info = call.model()
    body, ignored = _run_body(call, info)
    if not video:
        body["options"] = {"recursive": False}
        body.pop("tracking", None), body.pop("tracking_config", None)
    body.update(ids)
    session = await start_session(call.state, body, caller_of(call.request))
    return _started(session, ignored)


async def _batch_ids_async(call: Call) -> dict[str, Any]:
    ids = _first([call.params], "images_ids", "image_ids")
    if ids is None:
        raise InputError("state.images_ids (a list of image IDs) is required")
    return await _ids_run(call, {"image_ids": ids})


async def _image_id_async(call: Call) -> dict[str, Any]:
    if call.params.get("image_id") is None:
        raise InputError("state.image_id is required")
    return await _ids_run(call, {"image_ids": [call.params["image_id"]]})


async def _video_id_async(call: Call) -> dict[str, Any]:
    if call.params.get("video_id") is None:
        raise InputError("state.video_id is required")
    return await _ids_run(call, {"video_id": call.params["video_id"]}, video=True)


async def _project_id_async(call: Call) -> dict[str, Any]:
    params = call.params
    if params.get("dataset_ids"):
        return await _ids_run(call, {"dataset_id": params["dataset_ids"]})
    if params.get("project_id") is None:
        raise InputError("state.project_id is required")
    return await _ids_run(call, {"project_id": params["project_id"]})


# --- progress and results -------------------------------------------------------------------------
def _request_json(session: ServerSession) -> dict[str, Any]:
    status = session.status()
    final = status.state.is_final
    exception = None
    if status.state is SessionState.FAILED:
        reason = status.error or "the run failed"
        exception = {"type": "InferenceError", "message": reason, "traceback": reason}
    progress = {"message": "Running inference..." if not final else STAGES[status.state].capitalize(), "status": STAGES[status.state],
                "current": status.done, "total": status.total, "is_size": False}
    return {
        "uuid": session.id, "inference_request_uuid": session.id, "stage": STAGES[status.state], "progress": progress,
        "preparing_progress": {"current": 0, "total": 1, "message": "Ready"}, "exception": exception, "is_inferring": not final,
        "stopped": status.state is SessionState.STOPPED, "paused": False, "finished": final, "cancel_inference": False,
        "final_result": final, "has_result": final, "result": None, "created_at": session.created, "failed": status.failed,
        "sightline": session.describe(),
    }


def _progress(call: Call) -> dict[str, Any]:
    return _request_json(call.session())


def _status_of(call: Call) -> dict[str, Any]:
    data = _request_json(call.session())
    for key in ("final_result", "created_at", "result", "preparing_progress"):
        data.pop(key, None)
    return data


def _pop(call: Call) -> dict[str, Any]:
    session = call.session()
    cursors = _cursors(call.request)
    cursors.prune({s.id for s in call.state.sessions.list()})
    entry = cursors.entry(session.id)
    runner = session.runner
    with entry[1]:
        status = session.status()  # read before the results: a final status means every result is published
        first, page = runner.window(entry[0], MAX_POP)
        if entry[0] < first:  # results that left memory (a long run), or a run read back after a restart
            page = [Prediction.from_dict(d) for d in session.result_dicts(entry[0], MAX_POP)]
        entry[0] += len(page)
        cursor = entry[0]
    data = _request_json(session)
    # the session's own model, even if the default changed since; a run read back after a restart has none
    # running: the model it named, if this server has it loaded
    model = runner.model.info() if isinstance(runner, SessionRunner) else call.state.models.get(runner.stored.model if isinstance(runner, StoredRun) else runner.model.name).model.info()
    data["pending_results"] = [pending_result(p, model) for p in page]
    data["finished"] = status.state.is_final and cursor >= status.done
    return data


def _result(call: Call) -> dict[str, Any]:
    """The final result: for a tracked video its VideoAnnotation (``video_ann``), else ``video_ann: null`` as
    Supervisely's servers answer for images; with sightline's status of the run."""
    session = call.session()
    described = session.describe()
    preds = [Prediction.from_dict(d) for d in session.result_dicts(0, None)]
    model = session.runner.model.info() if isinstance(session.runner, SessionRunner) else call.model()  # a stored run has none
    return {**described, "video_ann": video_annotation(preds, model, _frames_count(call, session))}


def _frames_count(call: Call, session: ServerSession) -> int | None:
    """The video's own frame count: noted when its file was received, or the workspace's for a video ID."""
    noted = session.definition.get("video_frames")
    if isinstance(noted, int):
        return noted
    vid = session.definition.get("video_id")
    if isinstance(vid, int) and call.state.workspace is not None:
        try:
            return call.state.workspace.video(vid).frame_count
        except Exception:  # deleted meanwhile: the annotation counts up to its last frame
            return None
    return None


def _stop(call: Call) -> dict[str, Any]:
    call.state.sessions.stop(call.session().id, None)  # call.session() checked the caller
    return {"message": "Inference will be stopped.", "success": True}


def _clear(call: Call) -> dict[str, Any]:
    session = call.session()
    _cursors(call.request).drop(session.id)  # the session keeps its results until it expires
    return {"success": True}


def _freeze(call: Call) -> dict[str, Any]:
    return {"message": "sightline keeps a model loaded until it is unloaded: nothing to freeze."}


def _ready(call: Call) -> dict[str, Any]:
    ready = bool(call.state.models.loaded())
    return {"status": "ready" if ready else "not ready", "deployed": ready}


def _pretrained(call: Call) -> list[str]:
    return [e.name for e in list_models()]


def _pretrained_infos(call: Call) -> list[dict[str, Any]]:
    return [{"model_name": e.name, "task_type": e.task.value, "description": e.description} for e in list_models()]


Handler = Callable[[Call], Any]
METHODS: dict[str, Handler] = {
    "get_deploy_info": _deploy_info, "get_session_info": _session_info, "get_output_classes_and_tags": lambda c: project_meta(c.model()),
    "get_model_meta": lambda c: project_meta(c.model()), "get_custom_inference_settings": _settings,
    "get_tracking_settings": _tracking_settings, "is_ready": _ready, "is_deployed": _ready, "get_status": _status,
    "list_pretrained_models": _pretrained, "list_pretrained_model_infos": _pretrained_infos, "deploy_from_api": _deploy,
    "freeze_model": _freeze,
    "inference_batch_async": _batch_async, "inference_video_async": _video_async, "inference_batch_ids_async": _batch_ids_async,
    "inference_image_id_async": _image_id_async, "inference_video_id_async": _video_id_async,
    "inference_project_id_async": _project_id_async,
    "get_inference_progress": _progress, "pop_inference_results": _pop, "get_inference_result": _result,
    "stop_inference": _stop, "clear_inference_request": _clear, "get_inference_status": _status_of,
}
ASYNC_METHODS = {"inference_batch_async", "inference_video_async", "inference_batch_ids_async", "inference_image_id_async",
                 "inference_video_id_async", "inference_project_id_async"}


async def _read(request: Request) -> tuple[dict[str, Any], list[UploadFile], Any]:
    """(state, files, api_token) from a JSON body or a multipart form with a ``state`` (or ``settings``) field."""
    if is_multipart(request):
        fields, files = await read_form(request, get_state(request).config)
        return as_dict(fields.get("state") or fields.get("settings"), "state"), files, fields.get("api_token")
    body = await read_json(request) if await request.body() else {}
    return as_dict(body.get("state"), "state"), [], body.get("api_token")


@router.post("/{method}")
async def call(method: str, request: Request) -> Any:
    """One Supervisely serving method (see docs/compat.md for the list and the field mappings)."""
    handler = METHODS.get(method)
    params, files, token = await _read(request)
    check_key(request, [token], KEY_HOW)
    if handler is None:
        raise NotFoundError(f"method {method!r} is not served here; this server answers: {', '.join(sorted(METHODS))}", 404)
    run = Call(request, get_state(request), params, files)
    if method in ASYNC_METHODS:
        return await handler(run)
    return await run_in_threadpool(handler, run)

