"""Live streams over HTTP: post a frame, get the newest prediction and the stream's stats back."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from sightline.engine.live import LiveStream
from sightline.engine.video_steps import parse_video_kwargs
from sightline.engine.worker import prediction_of
from sightline.errors import NotFoundError, PayloadTooLargeError, RateLimitedError
from sightline.inputs.images import decode_image_bytes
from sightline.prediction import Prediction
from sightline.server.requests import as_dict, read_json
from sightline.server.state import get_state
from sightline.settings import SETTING_NAMES, parse_settings, reject_unknown

router = APIRouter(prefix="/v1/live", tags=["live"])
MAX_STREAMS = 8
_streams: dict[str, LiveStream] = {}
_lock = threading.Lock()


def _stream(sid: str) -> LiveStream:
    with _lock:
        stream = _streams.get(sid)
    if stream is None:
        raise NotFoundError(f"no live stream {sid!r}", 404)
    return stream


def _answer(stream: LiveStream, latest: Prediction | None) -> dict[str, Any]:
    return {"prediction": None if latest is None else latest.to_dict(), "stats": stream.stats().to_dict()}


@router.post("", status_code=201)
async def open_stream(request: Request) -> dict:
    """Open a stream: ``{"model", "settings", "tracking", "tracking_config"}``."""
    state = get_state(request)
    body = await read_json(request)
    reject_unknown(body, ("model", "settings", "tracking", "tracking_config"), "POST /v1/live")
    worker = state.models.get(body.get("model"))
    raw = as_dict(body.get("settings"), "settings")
    reject_unknown(raw, SETTING_NAMES, "settings")
    settings = parse_settings(raw, worker.model.classes).resolved(worker.model.default_settings)
    tracking = parse_video_kwargs({"tracking": body.get("tracking", False), "tracking_config": body.get("tracking_config")})["tracking_config"]

    def predict(image: Any) -> Prediction:
        (result,) = worker.predict([image], settings)
        return prediction_of(result, image, source="<live>")

    with _lock:
        if len(_streams) >= MAX_STREAMS:
            raise RateLimitedError(f"{len(_streams)} live streams are open, the limit is {MAX_STREAMS}", 429)
        sid = uuid.uuid4().hex
        _streams[sid] = LiveStream(predict, tracking)
    return {"id": sid, "model": worker.model.name}


@router.post("/{sid}/frames")
async def push_frame(sid: str, request: Request) -> dict:
    """Body: one encoded image. Answers at once with the newest finished prediction (maybe of an earlier frame)."""
    stream = _stream(sid)
    data = await request.body()
    config = get_state(request).config
    if len(data) > config.max_file_bytes:
        raise PayloadTooLargeError(f"the frame is {len(data):,} bytes, over the limit of {config.max_file_bytes:,}", 413)
    image = await run_in_threadpool(decode_image_bytes, data, config.max_image_pixels)
    latest = stream.push(image)
    if latest is not None:
        latest = Prediction.from_dict(latest.to_dict())  # detached from the stream's own copy
    return _answer(stream, latest)


@router.get("/{sid}")
def live_status(sid: str) -> dict:
    stream = _stream(sid)
    return _answer(stream, stream.latest())


@router.delete("/{sid}", status_code=204)
async def close_stream(sid: str) -> Response:
    with _lock:
        stream = _streams.pop(sid, None)
    if stream is None:
        raise NotFoundError(f"no live stream {sid!r}", 404)
    await run_in_threadpool(stream.close)
    return Response(status_code=204)
