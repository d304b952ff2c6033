"""Synchronous prediction: images in the request, predictions in the response."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from sightline.engine.worker import InferenceWorker
from sightline.errors import InputError, PayloadTooLargeError
from sightline.inputs.images import decode_image_bytes
from sightline.inputs.urls import fetch_bytes
from sightline.prediction import Prediction
from sightline.server.config import ServerConfig
from sightline.server.requests import as_dict, is_multipart, read_form, read_json
from sightline.server.security import check_url
from sightline.server.state import get_state
from sightline.server.uploads import client_meta
from sightline.settings import SETTING_NAMES, PredictSettings, parse_settings, reject_unknown

router = APIRouter(prefix="/v1", tags=["predict"])

BODY_KEYS = ("model", "settings", "urls", "images", "meta")


def _decode_all(sources: list[tuple[dict[str, Any], Any]]) -> list[tuple[dict[str, Any], Any, str | None]]:
    """(meta, pixels, error) per item; a bad item gets an error and the others go on."""
    out = []
    for meta, get in sources:
        try:
            out.append((meta, get(), None))
        except (ValueError, InputError) as exc:
            out.append((meta, None, str(exc)))
    return out


@router.post("/predict")
async def predict(request: Request) -> dict:
    """Predict uploaded files (multipart ``files``), base64 ``images`` or ``urls``, with ``settings``."""
    state = get_state(request)
    limit = state.config.max_image_pixels
    if is_multipart(request):
        fields, files = await read_form(request, state.config)
        body = {k: fields.get(k) for k in ("model", "settings", "meta")}
        metas = body.get("meta") or []
        sources = []
        for i, f in enumerate(files):
            meta = client_meta(metas[i] if i < len(metas) else None)
            meta.setdefault("source", f.filename or f"files[{i}]")
            sources.append((meta, lambda f=f: decode_image_bytes(f.file.read(), limit)))
    else:
        body = await read_json(request)
        reject_unknown(body, BODY_KEYS, "POST /v1/predict")
        sources = []
        for i, item in enumerate(body.get("images") or []):
            item = as_dict(item, f"images[{i}]")
            try:
                data = base64.b64decode(item.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise InputError(f"images[{i}].data is not valid base64") from None
            sources.append(({**client_meta(item), "source": item.get("source") or f"images[{i}]"}, lambda d=data: decode_image_bytes(d, limit)))
        for url in body.get("urls") or []:
            if not isinstance(url, str):
                raise InputError(f"urls must be a list of strings, got {url!r}")
            sources.append(({"source": url, "image_url": url}, url_loader(state.config, url)))
    if not sources:
        raise InputError("nothing to predict: send multipart 'files', or JSON 'images' (base64) or 'urls'")
    if len(sources) > state.config.max_items_per_request:
        raise PayloadTooLargeError(f"{len(sources)} items in one request, over the limit of {state.config.max_items_per_request}", 413)
    worker = state.models.get(body.get("model"))
    raw_settings = as_dict(body.get("settings"), "settings")
    reject_unknown(raw_settings, SETTING_NAMES, "settings")
    settings = parse_settings(raw_settings, worker.model.classes).resolved(worker.model.default_settings)

    def run() -> list[dict[str, Any]]:
        return [p.to_dict() for p in predict_sources(worker, sources, settings)]

    return {"model": worker.model.name, "predictions": await run_in_threadpool(run)}


def url_loader(config: ServerConfig, url: str) -> Callable[[], Any]:
    """Load an image URL when called: checked against the URL policy first, then fetched and decoded within limits."""

    def fetch() -> Any:
        check_url(url, config.allow_private_urls)
        return decode_image_bytes(fetch_bytes(url, timeout=config.url_timeout_s), config.max_image_pixels)

    return fetch


def predict_sources(worker: InferenceWorker, sources: list[tuple[dict[str, Any], Any]], settings: PredictSettings) -> list[Prediction]:
    """Decode ``(meta, load)`` pairs and predict them in one call to the model's worker; a bad item fails only itself."""
    decoded = _decode_all(sources)
    good = [(i, image) for i, (_, image, err) in enumerate(decoded) if err is None]
    detections = worker.predict([image for _, image in good], settings)
    by_index = dict(zip((i for i, _ in good), detections))
    preds = []
    for i, (meta, image, err) in enumerate(decoded):
        if err is not None:
            preds.append(Prediction.failed(err, index=i, **meta))
        else:
            preds.append(Prediction(detections=by_index[i], image_size=(int(image.shape[0]), int(image.shape[1])), index=i, **meta))
    return preds
