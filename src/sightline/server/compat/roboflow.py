"""Roboflow Inference's HTTP protocol under ``/roboflow``, for ``inference_sdk.InferenceHTTPClient``.

``InferenceHTTPClient(api_url="http://host:7860/roboflow", api_key=KEY)`` works unchanged: server info, the
model registry (load, unload, clear) and ``/infer/object_detection|instance_segmentation`` on one image or a
list. Images go through the same decoding, pixel limit, URL policy and model worker as ``POST /v1/predict``.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from typing import Any

import numpy as np
import supervision as sv
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

import sightline
from sightline.errors import InputError, InvalidSettingError, NotFoundError, PayloadTooLargeError
from sightline.geometry import dense_masks
from sightline.inputs.images import decode_image_bytes
from sightline.models.base import Task
from sightline.prediction import Prediction
from sightline.server.callers import caller_of, require_model_admin
from sightline.server.compat.arrays import decode_numpy_image
from sightline.server.compat.common import check_key, error_route
from sightline.server.fairness import server_settings
from sightline.server.requests import read_json
from sightline.server.routers import models as models_router
from sightline.server.routers.predict import predict_sources
from sightline.server.state import ServerState, get_state
from sightline.settings import reject_unknown


def _render(kind: str, message: str, status: int) -> dict[str, Any]:
    # the client shows ``message`` (or ``detail``); ``error`` keeps sightline's own shape beside it
    return {"message": message, "error": {"type": kind, "message": message, "status": status}}


router = APIRouter(prefix="/roboflow", tags=["compat: roboflow"], route_class=error_route(_render))

SERVER_UUID = uuid.uuid4().hex  # /info's ``uuid``: one per server process
TASK_TYPES = {Task.DETECTION: "object-detection", Task.INSTANCE_SEGMENTATION: "instance-segmentation"}
# Roboflow's setting → sightline's
SETTINGS = {"confidence": "conf", "iou_threshold": "iou", "max_detections": "max_detections", "class_filter": "classes",
            "class_agnostic_nms": "agnostic_nms"}
# what inference_sdk 1.8.3 may also send; accepted and ignored (docs/compat.md says why)
IGNORED = ("max_candidates", "visualize_predictions", "visualization_labels", "visualization_stroke_width", "disable_active_learning",
           "active_learning_target_dataset", "disable_preproc_auto_orient", "disable_preproc_contrast", "disable_preproc_grayscale",
           "disable_preproc_static_crop", "fix_batch_size", "source", "source_info", "source_info_origin", "mask_decode_mode",
           "tradeoff_factor", "allow_reduced_mask_resolution", "response_mask_format", "keypoint_confidence", "countinference",
           "service_secret")
INFER_KEYS = ("api_key", "model_id", "image", *SETTINGS, *IGNORED)
KEY_HOW = "send api_key (query or body, as inference_sdk does) or 'Authorization: Bearer <key>'"


async def _body(request: Request) -> dict[str, Any]:
    """The JSON body ({} when there is none), after the API key check (query, body or header)."""
    body = await read_json(request) if await request.body() else {}
    check_key(request, [body.get("api_key")], KEY_HOW)
    return body


def _registry(state: ServerState) -> dict[str, Any]:
    models = []
    for worker in state.models.loaded():
        model = worker.model
        height, width = model.input_size or (None, None)
        models.append({"model_id": model.name, "task_type": TASK_TYPES.get(model.task, model.task.value),
                       "batch_size": state.config.max_batch_size, "input_height": height, "input_width": width})
    return {"models": models}


def _model_id(body: dict[str, Any]) -> str:
    model_id = body.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise InputError("model_id must be the name of a model (see GET /roboflow/model/registry)")
    return model_id


@router.get("/info")
def info() -> dict[str, str]:
    """Public, like Roboflow's: only the server's name, version and id."""
    return {"name": "sightline", "version": sightline.__version__, "uuid": SERVER_UUID}


@router.get("/model/registry")
async def registry(request: Request) -> dict[str, Any]:
    check_key(request, [], KEY_HOW)
    return _registry(get_state(request))


@router.post("/model/add")
async def add(request: Request) -> dict[str, Any]:
    """Load a model (zoo name or, on a trusted server, a checkpoint path) through ``POST /v1/models/load``."""
    body = await _body(request)
    require_model_admin(request)
    state = get_state(request)
    await models_router.load(models_router.LoadRequest(model=_model_id(body)), state)
    return _registry(state)


@router.post("/model/remove")
async def remove(request: Request) -> dict[str, Any]:
    body = await _body(request)
    require_model_admin(request)
    state = get_state(request)
    await run_in_threadpool(state.models.unload, _model_id(body))
    return _registry(state)


@router.post("/model/clear")
async def clear(request: Request) -> dict[str, Any]:
    await _body(request)
    require_model_admin(request)
    state = get_state(request)
    await run_in_threadpool(state.models.unload_all)
    return _registry(state)


def _image_loader(state: ServerState, image: Any, where: str) -> tuple[dict[str, Any], Any]:
    """(meta, load) for one ``{"type", "value"}`` image, as ``predict_sources`` takes them."""
    if not isinstance(image, dict):
        raise InputError(f"{where} must be an object {{\"type\": \"base64\" | \"url\" | \"numpy\", \"value\": ...}}")
    kind, value = image.get("type"), image.get("value")
    limit = state.config.max_image_pixels
    if kind == "base64":
        if not isinstance(value, str):
            raise InputError(f"{where}.value must be a base64 string")
        if value.startswith("data:"):  # a data URL: keep what follows the comma
            value = value.partition(",")[2]
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{where}.value is not valid base64") from None
        return {"source": where}, lambda: decode_image_bytes(data, limit)
    if kind == "url":
        if not isinstance(value, str):
            raise InputError(f"{where}.value must be a URL string")
        return {"source": value, "image_url": value}, value  # a URL string: fetched on the server's URL pool
    if kind == "numpy":
        return {"source": where}, lambda: decode_numpy_image(value, limit)
    raise InputError(f"{where}.type must be 'base64', 'url' or 'numpy', got {kind!r}")


def _settings(body: dict[str, Any], classes: list[str], max_img_size: int) -> Any:
    raw = {ours: body[theirs] for theirs, ours in SETTINGS.items() if body.get(theirs) is not None}
    try:
        return server_settings(raw, classes, max_img_size)
    except InvalidSettingError as exc:  # name the field as the client sent it
        message = str(exc)
        field = exc.detail.get("field")
        for theirs, ours in SETTINGS.items():
            if message.startswith(ours + " "):
                message = theirs + message[len(ours):]
            if field == ours:
                field = theirs
        raise InvalidSettingError(message, detail={"field": field} if field else None) from None


def _polygon(mask: np.ndarray) -> list[dict[str, float]]:
    """The mask's largest outline as Roboflow's ``points``."""
    polygons = sv.mask_to_polygons(mask)
    if not polygons:
        return []
    largest = max(polygons, key=lambda p: len(p))
    return [{"x": float(x), "y": float(y)} for x, y in largest]


def to_roboflow(pred: Prediction, classes: list[str], with_points: bool, seconds: float) -> dict[str, Any]:
    """One image's answer: boxes as centre and size in the pixels of the image sent."""
    height, width = pred.image_size or (0, 0)
    masks = dense_masks(pred.detections.mask) if with_points and pred.detections.mask is not None else None
    out = []
    for i, (box, score, class_id) in enumerate(zip(pred.boxes, pred.scores, pred.class_ids)):
        x1, y1, x2, y2 = (float(v) for v in box)
        item: dict[str, Any] = {
            "x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "width": x2 - x1, "height": y2 - y1,
            "confidence": round(float(score), 5), "class": pred.classes[i] if i < len(pred.classes) else classes[int(class_id)],
            "class_id": int(class_id), "detection_id": uuid.uuid4().hex,
        }
        if pred.track_ids is not None:
            item["tracker_id"] = int(pred.track_ids[i])
        if masks is not None:
            item["points"] = _polygon(masks[i])
        out.append(item)
    return {"inference_id": uuid.uuid4().hex, "time": round(seconds, 4), "image": {"width": width, "height": height}, "predictions": out}


async def _infer(request: Request, with_points: bool) -> Any:
    started = time.perf_counter()
    body = await _body(request)
    reject_unknown(body, INFER_KEYS, request.url.path)
    state = get_state(request)
    worker = state.models.get(_model_id(body))
    images = body.get("image")
    single = not isinstance(images, list)
    items = [images] if single else images
    if images is None or not items:
        raise InputError("image is required: {\"type\": \"base64\" | \"url\" | \"numpy\", \"value\": ...} or a list of them")
    if len(items) > state.config.max_items_per_request:
        raise PayloadTooLargeError(f"{len(items)} images in one request, over the limit of {state.config.max_items_per_request}", 413)
    sources = [_image_loader(state, image, "image" if single else f"image[{i}]") for i, image in enumerate(items)]
    model = worker.model
    settings = _settings(body, model.classes, state.config.max_img_size).resolved(model.default_settings)
    preds = await predict_sources(state, worker, sources, settings, caller_of(request).lane)
    for pred in preds:  # Roboflow answers a bad image with an error for the request
        if pred.error is not None:
            where = "image" if single else f"image[{pred.index}]"
            raise InputError(f"{where}: {pred.error}")
    seconds = (time.perf_counter() - started) / len(preds)
    masks = with_points and model.task is Task.INSTANCE_SEGMENTATION
    answers = [to_roboflow(p, model.classes, masks, seconds) for p in preds]
    return answers[0] if single else answers


@router.post("/infer/object_detection")
async def infer_object_detection(request: Request) -> Any:
    return await _infer(request, with_points=False)


@router.post("/infer/instance_segmentation")
async def infer_instance_segmentation(request: Request) -> Any:
    return await _infer(request, with_points=True)


@router.api_route("/{path:path}", methods=["GET", "POST"], include_in_schema=False)
def unknown(path: str) -> None:
    raise NotFoundError(
        f"/roboflow/{path} is not served: this server speaks Roboflow's /info, /model/registry|add|remove|clear and "
        "/infer/object_detection|instance_segmentation (docs/compat.md)", 404)
