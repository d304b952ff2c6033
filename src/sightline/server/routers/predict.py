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
from sightline.server.callers import caller_of
from sightline.server.fairness import server_settings
from sightline.server.requests import is_multipart, read_form, read_json
from sightline.server.state import ServerState, get_state
from sightline.server.uploads import client_meta
from sightline.server.url_pool import BUSY_MESSAGE, UrlFetchPool
from sightline.settings import PredictSettings

router = APIRouter(prefix="/v1", tags=["predict"])


class PixelBudget:
    """The decoded pixels one request may still use (``max_request_pixels``); once they are spent, every
    later item fails with the reason, undecoded, so a small upload of huge blank images costs a bounded
    amount of work."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.spent = False

    @property
    def refusal(self) -> str | None:
        if not self.spent:
            return None
        return (f"this request's images are over its limit of {self.limit:,} decoded pixels (max_request_pixels); "
                "send the remaining items in another request")

    def take(self, image: Any) -> str | None:
        """Count ``image``; the reason it is refused when it does not fit."""
        pixels = int(image.shape[0]) * int(image.shape[1])
        if self.used + pixels > self.limit:
            self.spent = True
        else:
            self.used += pixels
        return self.refusal


def predict_chunk(worker: InferenceWorker, chunk: list[tuple[dict[str, Any], Any]], settings: PredictSettings,
                  first: int, budget: PixelBudget, pass_pixels: int, lane: str | None = None) -> list[Prediction]:
    """Decode ``(meta, load)`` pairs (at most one batch) and predict them through the model's worker; a bad
    item, one over the budget, or one the model raises on fails only itself.

    Images go to the model as soon as they hold ``pass_pixels`` (``max_image_pixels``) between them, and
    only each image's size and detections outlive that pass: a request holds at most one batch of images,
    and at most about one maximal image's pixels, however large its images are."""
    done: dict[int, Prediction] = {}
    pending: list[tuple[int, dict[str, Any], Any]] = []
    pixels = 0

    def run_pending() -> None:
        results = worker.predict([image for _, _, image in pending], settings, lane=lane)
        for (j, meta, image), result in zip(pending, results):
            done[j] = prediction_of(result, image, index=first + j, **meta)
        pending.clear()

    for j, (meta, get) in enumerate(chunk):
        error = budget.refusal
        if error is None:
            try:
                image = get()
            except (ValueError, InputError) as exc:
                error = str(exc)
            else:
                error = budget.take(image)
                if error is None:
                    pending.append((j, meta, image))
                    pixels += int(image.shape[0]) * int(image.shape[1])
                del image
                if pixels >= pass_pixels:
                    run_pending()
                    pixels = 0
        if error is not None:
            done[j] = Prediction.failed(error, index=first + j, **meta)
    if pending:
        run_pending()
    return [done[j] for j in range(len(chunk))]


async def predict_sources(state: ServerState, worker: InferenceWorker, sources: list[tuple[dict[str, Any], Any]],
                          settings: PredictSettings, lane: str | None = None) -> list[Prediction]:
    """Predict ``(meta, load)`` pairs (a load is a callable, or a URL string fetched on the server's URL pool)
    in chunks of the worker's batch size: each chunk's URLs are fetched, its images decoded, predicted and
    dropped before the next, so a request's memory is one batch however many items it has. ``lane`` is
    the caller's turn at the model (``server/callers.py``). The compatibility layers (``server/compat``)
    predict through it."""
    budget = PixelBudget(state.config.max_request_pixels)
    size = max(1, worker.max_batch_size)
    preds: list[Prediction] = []
    for first in range(0, len(sources), size):
        chunk = sources[first : first + size]
        await fetch_urls(state.url_pool, chunk, refuse_when_all_busy=first == 0)
        preds += await run_in_threadpool(predict_chunk, worker, chunk, settings, first, budget, state.config.max_image_pixels, lane)
        del chunk  # its fetched images go before the next chunk's arrive
    failed = sum(1 for p in preds if p.error is not None)
    if failed:
        state.predict_failures(failed)
    return preds


def _raise(exc: BaseException) -> Any:
    raise exc


def _value(value: Any) -> Any:
    return value


async def fetch_urls(pool: UrlFetchPool, sources: list[tuple[dict[str, Any], Any]], refuse_when_all_busy: bool = True) -> None:
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
    if refuse_when_all_busy and busy and busy == len(sources):
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
        sources: list[tuple[dict[str, Any], Any]] = []  # (meta, a loader of the pixels, or a URL fetched below)
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
    settings = server_settings(raw_settings, worker.model.classes, state.config.max_img_size).resolved(worker.model.default_settings)
    preds = await predict_sources(state, worker, sources, settings, caller_of(request).lane)
    return {"model": worker.model.name, "predictions": [p.to_dict() for p in preds]}
