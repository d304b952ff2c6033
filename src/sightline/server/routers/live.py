"""Live streams over HTTP: post a frame, get the newest prediction and the stream's stats back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from sightline.engine.live import LiveStream
from sightline.engine.video_steps import video_args
from sightline.engine.worker import prediction_of
from sightline.errors import ConflictError, InputError
from sightline.inputs.images import ImageDecodeError, decode_image_bytes
from sightline.prediction import Prediction
from sightline.request import LiveRequest
from sightline.server.bodies import parse_body, request_body
from sightline.server.callers import caller_of
from sightline.server.fairness import check_img_size
from sightline.server.requests import read_json
from sightline.server.state import get_state

router = APIRouter(prefix="/v1/live", tags=["live"])


def _answer(stream: LiveStream, latest: Prediction | None) -> dict[str, Any]:
    return {"prediction": None if latest is None else latest.to_dict(), "stats": stream.stats().to_dict()}


@router.post("", status_code=201, openapi_extra=request_body(LiveRequest))
async def open_stream(request: Request) -> dict:
    """Open a stream: ``{"model", "settings", "tracking", "tracking_config"}``."""
    state = get_state(request)
    body = await run_in_threadpool(parse_body, LiveRequest, await read_json(request))
    worker = state.models.get(body.model)
    settings = check_img_size(body.predict_settings(worker.model.classes), state.config.max_img_size).resolved(worker.model.default_settings)
    lane = caller_of(request).lane
    tracking = video_args(body)["tracking_config"]

    def predict(image: Any) -> Prediction:
        (result,) = worker.predict([image], settings, lane=lane)
        return prediction_of(result, image, source="<live>")

    sid = await run_in_threadpool(state.live.open, lambda: LiveStream(predict, tracking))
    return {"id": sid, "model": worker.model.name}


@router.post("/{sid}/frames")
async def push_frame(sid: str, request: Request) -> dict:
    """Body: one encoded image (at most ``max_file_bytes``, counted as it arrives). Answers at once with the
    newest finished prediction (maybe of an earlier frame)."""
    state = get_state(request)
    stream = state.live.get(sid)
    data = await request.body()
    try:
        image = await run_in_threadpool(decode_image_bytes, data, state.config.max_image_pixels)
    except ImageDecodeError as exc:
        raise InputError(f"the frame could not be read: {exc}") from None
    if stream.error is not None:  # the model failed on an earlier frame: this stream cannot go on
        await run_in_threadpool(state.live.remove(sid).close)
        raise ConflictError(f"live stream {sid} has ended: the model failed on a frame ({type(stream.error).__name__}: {stream.error}); open a new one", 409)
    latest = stream.push(image)
    if latest is not None:
        latest = Prediction.from_dict(latest.to_dict())  # detached from the stream's own copy
    return _answer(stream, latest)


@router.get("/{sid}")
def live_status(sid: str, request: Request) -> dict:
    stream = get_state(request).live.get(sid)
    return _answer(stream, stream.latest())


@router.delete("/{sid}", status_code=204)
async def close_stream(sid: str, request: Request) -> Response:
    stream = get_state(request).live.remove(sid)
    await run_in_threadpool(stream.close)
    return Response(status_code=204)
