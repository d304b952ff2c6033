"""Synchronous prediction: images in the request, predictions in the response."""

from __future__ import annotations

import asyncio
import base64
import binascii
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from sightline.engine.worker import InferenceWorker, prediction_of
from sightline.errors import InputError, PayloadTooLargeError, RateLimitedError
from sightline.inputs.images import decode_image_bytes
from sightline.prediction import Prediction
from sightline.server.bodies import PredictBody, PredictForm, parse_body, request_body
from sightline.server.requests import is_multipart, read_form, read_json
from sightline.server.state import get_state
from sightline.server.uploads import client_meta
from sightline.server.url_pool import BUSY_MESSAGE, UrlFetchPool
from sightline.settings import PredictSettings, parse_settings

router = APIRouter(prefix="/v1", tags=["predict"])


def _decode_all(sources: list[tuple[dict[str, Any], Any]]) -> list[tuple[dict[str, Any], Any, str | None]]:
    """(meta, pixels, error) per item; a bad item gets an error and the others go on."""
    out = []
    for meta, get in sources:
        try:
            out.append((meta, get(), None))
        except (ValueError, InputError) as exc:
            out.append((meta, None, str(exc)))
    return out


def predict_sources(worker: InferenceWorker, sources: list[tuple[dict[str, Any], Any]], settings: PredictSettings) -> list[Prediction]:
    """Decode ``(meta, load)`` pairs and predict them in one call to the model's worker; a bad item, or one
    the model raises on, fails only itself. The compatibility layers (``server/compat``) predict through it."""
    decoded = _decode_all(sources)
    good = [(i, image) for i, (_, image, err) in enumerate(decoded) if err is None]
    results = worker.predict([image for _, image in good], settings)
    by_index = dict(zip((i for i, _ in good), results))
    return [Prediction.failed(err, index=i, **meta) if err is not None else prediction_of(by_index[i], image, index=i, **meta)
            for i, (meta, image, err) in enumerate(decoded)]


def _raise(exc: BaseException) -> Any:
    raise exc


def _value(value: Any) -> Any:
    return value


async def fetch_urls(pool: UrlFetchPool, sources: list[tuple[dict[str, Any], Any]]) -> None:
    """Fetch the URL items (given as strings) on the server's URL pool, in place: each becomes a loader of
    its image or of its error. Awaiting holds no thread, so slow hosts never take the threads other
    requests need. A request made only of URLs that all find the pool full is a 429."""
    pending: dict[int, asyncio.Future] = {}
    busy = 0
    for i, (meta, get) in enumerate(sources):
        if isinstance(get, str):
            try:
                pending[i] = asyncio.wrap_future(pool.submit_image(get))
            except RateLimitedError as exc:
                busy += 1
                sources[i] = (meta, partial(_raise, InputError(str(exc))))
    if busy and busy == len(sources):
        raise RateLimitedError(f"{busy} URL(s) refused: {BUSY_MESSAGE}")
    results = await asyncio.gather(*pending.values(), return_exceptions=True)
    for i, result in zip(pending, results):
        meta = sources[i][0]
        sources[i] = (meta, partial(_raise, result) if isinstance(result, BaseException) else partial(_value, result))


FILES = "the images to predict (multipart)"


@router.post("/predict", openapi_extra=request_body(PredictBody, PredictForm, FILES))
async def predict(request: Request) -> dict:
    """Predict uploaded files (multipart ``files``), base64 ``images`` or ``urls``, with ``settings``."""
    state = get_state(request)
    limit = state.config.max_image_pixels
    if is_multipart(request):
        fields, files = await read_form(request, state.config)
        body: PredictBody | PredictForm = await run_in_threadpool(parse_body, PredictForm, fields)
        metas = body.meta or []
        sources = []
        for i, f in enumerate(files):
            meta = client_meta(metas[i] if i < len(metas) else None)
            meta.setdefault("source", f.filename or f"files[{i}]")
            sources.append((meta, lambda f=f: decode_image_bytes(f.file.read(), limit)))
    else:
        body = await run_in_threadpool(parse_body, PredictBody, await read_json(request))
        sources = []
        for i, item in enumerate(body.images or []):
            try:
                data = base64.b64decode(item.data, validate=True)
            except (binascii.Error, ValueError):
                raise InputError(f"images[{i}].data is not valid base64") from None
            meta = client_meta(item.model_dump(exclude={"data"}, exclude_none=True))
            sources.append(({**meta, "source": item.source or f"images[{i}]"}, lambda d=data: decode_image_bytes(d, limit)))
        for url in body.urls or []:
            sources.append(({"source": url, "image_url": url}, url))  # fetched below, on the URL pool
    if not sources:
        raise InputError("nothing to predict: send multipart 'files', or JSON 'images' (base64) or 'urls'")
    if len(sources) > state.config.max_items_per_request:
        raise PayloadTooLargeError(f"{len(sources)} items in one request, over the limit of {state.config.max_items_per_request}", 413)
    worker = state.models.get(body.model)
    raw_settings = body.settings.model_dump(exclude_unset=True) if body.settings else {}
    settings = parse_settings(raw_settings, worker.model.classes).resolved(worker.model.default_settings)
    await fetch_urls(state.url_pool, sources)

    preds = await run_in_threadpool(predict_sources, worker, sources, settings)
    return {"model": worker.model.name, "predictions": [p.to_dict() for p in preds]}
