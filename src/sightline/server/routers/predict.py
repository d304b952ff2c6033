"""Synchronous prediction: images in the request, predictions in the response."""

from __future__ import annotations

import asyncio
import base64
import binascii
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from sightline.engine.worker import prediction_of
from sightline.errors import InputError, PayloadTooLargeError, RateLimitedError
from sightline.inputs.images import decode_image_bytes
from sightline.prediction import Prediction
from sightline.server.requests import as_dict, is_multipart, read_form, read_json
from sightline.server.state import get_state
from sightline.server.uploads import client_meta
from sightline.server.url_pool import BUSY_MESSAGE, UrlFetchPool
from sightline.settings import SETTING_NAMES, parse_settings, reject_unknown

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


def _raise(exc: BaseException) -> Any:
    raise exc


def _value(value: Any) -> Any:
    return value


async def _fetch_urls(pool: UrlFetchPool, sources: list[tuple[dict[str, Any], Any]]) -> None:
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
            sources.append(({"source": url, "image_url": url}, url))  # fetched below, on the URL pool
    if not sources:
        raise InputError("nothing to predict: send multipart 'files', or JSON 'images' (base64) or 'urls'")
    if len(sources) > state.config.max_items_per_request:
        raise PayloadTooLargeError(f"{len(sources)} items in one request, over the limit of {state.config.max_items_per_request}")
    worker = state.models.get(body.get("model"))
    raw_settings = as_dict(body.get("settings"), "settings")
    reject_unknown(raw_settings, SETTING_NAMES, "settings")
    settings = parse_settings(raw_settings, worker.model.classes).resolved(worker.model.default_settings)
    await _fetch_urls(state.url_pool, sources)

    def run() -> list[dict[str, Any]]:
        decoded = _decode_all(sources)
        good = [(i, image) for i, (_, image, err) in enumerate(decoded) if err is None]
        results = worker.predict([image for _, image in good], settings)  # an image the model raised on fails alone
        by_index = dict(zip((i for i, _ in good), results))
        preds = []
        for i, (meta, image, err) in enumerate(decoded):
            if err is not None:
                preds.append(Prediction.failed(err, index=i, **meta).to_dict())
            else:
                preds.append(prediction_of(by_index[i], image, index=i, **meta).to_dict())
        return preds

    return {"model": worker.model.name, "predictions": await run_in_threadpool(run)}
