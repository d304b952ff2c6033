"""Detached sessions: create, add items, close, status, results by cursor, SSE events, stop, delete."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from sightline.engine.status import SessionState
from sightline.inputs.items import InputPlan
from sightline.prediction import Prediction
from sightline.settings import InputOptions, PredictSettings

from sightline.errors import ConflictError, InputError, NotFoundError, PayloadTooLargeError, RateLimitedError
from sightline.video.timeline import build_timeline
from sightline.server.requests import as_dict, is_multipart, read_form, read_json, save_upload
from sightline.server.sessions import Callback, ServerSession
from sightline.server.state import ServerState, get_state
from sightline.server.uploads import Upload, client_meta
from sightline.settings import OPTION_NAMES, SETTING_NAMES, parse_options, parse_settings, reject_unknown
from sightline.engine.video_steps import VIDEO_KWARGS, parse_video_kwargs
from sightline.inputs.resolve import plan_sources
from sightline.inputs.workspace import ID_SOURCES, workspace_sources
from sightline.video.probe import is_video_path
from sightline.workspace.run_upload import UPLOAD_KWARGS, RunUploader
from sightline.workspace.uploads import parse_mode, parse_threshold

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

CREATE_KEYS = ("model", "settings", "options", "total", "urls", "callback", "close", *ID_SOURCES, *UPLOAD_KWARGS, *VIDEO_KWARGS)
MAX_BACKLOG = 512  # uploads accepted but not yet read by the engine, per session
MAX_PAGE = 1000
KEEPALIVE_S = 10.0
MAX_WAIT_S = 30.0


def _describe(session: ServerSession) -> dict[str, Any]:
    return session.describe()


@dataclass
class _Prepared:
    """A create request, checked and resolved: what ``SessionStore.create`` (or ``resume``) needs."""

    worker: Any
    settings: PredictSettings
    options: InputOptions
    total: int
    urls: list[str]
    callback: Callback | None
    plan: InputPlan | None
    uploader: RunUploader | None
    video: dict[str, Any]


async def _prepare(state: ServerState, body: dict[str, Any], run: dict[str, Any] | None = None) -> _Prepared:
    """Check a create request (or a stored one, to resume: ``run`` continues its workspace run record)."""
    reject_unknown(body, CREATE_KEYS, "POST /v1/sessions")
    urls = body.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise InputError("urls must be a list of strings")
    total = body.get("total", len(urls))
    if not isinstance(total, int) or isinstance(total, bool) or total < len(urls) or total < 0:
        raise InputError(f"total must be a whole number of items, at least the {len(urls)} URLs given; got {total!r}")
    raw_settings, raw_options = as_dict(body.get("settings"), "settings"), as_dict(body.get("options"), "options")
    reject_unknown(raw_settings, SETTING_NAMES, "settings")
    reject_unknown(raw_options, OPTION_NAMES, "options")
    worker = state.models.get(body.get("model"))
    settings = parse_settings(raw_settings, worker.model.classes)
    options = parse_options(raw_options)
    callback = None
    if body.get("callback") is not None:
        cb = as_dict(body["callback"], "callback")
        reject_unknown(cb, ("url", "username", "password"), "callback")
        if not isinstance(cb.get("url"), str):
            raise InputError("callback.url must be a URL string")
        callback = Callback(cb["url"], cb.get("username"), cb.get("password"))
    ids = {k: body[k] for k in ID_SOURCES if body.get(k) is not None}
    plan = None
    if ids:
        if urls or body.get("total"):
            raise InputError(f"give exactly one input source: workspace IDs ({', '.join(ids)}) or uploaded items, not both")
        sources = await run_in_threadpool(workspace_sources, state.workspace, ids, options)
        plan = plan_sources(sources)
        total = plan.total
    uploader = None
    if body.get("upload") is not None:
        ws = state.require_workspace()
        run = run or {}
        uploader = await run_in_threadpool(
            lambda: RunUploader(ws, parse_mode(body["upload"]), worker.model.name, settings.resolved(worker.model.default_settings).to_dict(),
                                parse_threshold(body.get("iou_merge_threshold", 0.9)), body.get("upload_project"), bool(ids),
                                into_project=run.get("project_id"), run_id=run.get("run_id"))
        )
    elif body.get("upload_project") is not None or body.get("iou_merge_threshold") is not None:
        raise InputError("upload_project and iou_merge_threshold only apply with upload")
    video = parse_video_kwargs({k: body[k] for k in VIDEO_KWARGS if k in body})
    if isinstance(video["annotated_video"], str):
        raise InputError("annotated_video must be true or false on a server (the file is fetched from /video)")
    return _Prepared(worker, settings, options, total, urls, callback, plan, uploader, video)


@router.post("", status_code=201)
async def create(request: Request) -> dict:
    """Start a session. ``total`` items will follow by ``POST /items`` (``urls`` given here count too)."""
    state: ServerState = get_state(request)
    body = await read_json(request)
    p = await _prepare(state, body)
    # kept to resume the session after a restart: the request without its callback (a password) and URLs (sent as items)
    definition = {k: v for k, v in body.items() if k not in ("callback", "urls", "close")} | {"model": p.worker.model.name, "total": p.total}
    session = await run_in_threadpool(state.sessions.create, p.worker.model.name, p.settings, p.options, p.total, p.callback, p.plan,
                                      p.uploader, p.video, definition)
    for url in p.urls:
        session.uploads.add(Upload("url", {}, url=url), 1)
    if body.get("close", bool(p.urls) and p.total == len(p.urls)):
        session.uploads.close()
    return _describe(session)


@router.post("/{sid}/resume")
async def resume(sid: str, request: Request) -> dict:
    """Run an interrupted session on from its first unfinished item. Workspace inputs go on by themselves;
    a client-fed session takes the remaining ``total - done`` items by ``POST /items`` as at creation."""
    state: ServerState = get_state(request)
    session = state.sessions.get(sid)
    if session.status().state is not SessionState.INTERRUPTED:
        raise ConflictError(f"session {sid} is {session.status().state.value}: only an interrupted session can be resumed", 409)
    stored = {k: v for k, v in session.definition.items() if k in CREATE_KEYS and k != "total"}  # the store knows what remains
    p = await _prepare(state, stored, run=session.definition.get("run"))
    session = await run_in_threadpool(state.sessions.resume, sid, p.settings, p.options, p.plan, p.uploader, p.video)
    return _describe(session)


@router.get("")
def list_sessions(request: Request) -> dict:
    return {"sessions": [_describe(s) for s in get_state(request).sessions.list()]}


@router.post("/{sid}/items")
async def add_items(sid: str, request: Request) -> dict:
    """Add uploaded files (multipart ``files`` with a ``meta`` list) or ``urls`` to a session's input."""
    state: ServerState = get_state(request)
    session = state.sessions.get(sid)
    if session.uploads.pending >= MAX_BACKLOG:
        raise RateLimitedError(f"session {sid} has {session.uploads.pending} items waiting; send more once it catches up", 429)
    if is_multipart(request):
        fields, files = await read_form(request, state.config)
        metas = fields.get("meta") or []
        if not isinstance(metas, list):
            raise InputError("meta must be a JSON list, one object per file")
        for i, f in enumerate(files):
            raw = metas[i] if i < len(metas) and isinstance(metas[i], dict) else {}
            meta = client_meta(raw)
            meta.setdefault("source", f.filename or f"file {i}")
            path = await run_in_threadpool(save_upload, f, session.folder)
            if raw.get("kind") == "video" or (raw.get("kind") is None and is_video_path(f.filename or "")):
                frames = await run_in_threadpool(session.uploads.frames_in, path, f.filename)
                session.uploads.add(Upload("video", meta, path=path), frames)
            else:
                session.uploads.add(Upload("image", meta, path=path), 1)
        close = fields.get("close")
    else:
        body = await read_json(request)
        reject_unknown(body, ("items", "urls", "close"), f"POST /v1/sessions/{sid}/items")
        entries = [{"url": u} for u in (body.get("urls") or [])] + list(body.get("items") or [])
        if len(entries) > state.config.max_items_per_request:
            raise PayloadTooLargeError(f"{len(entries)} items in one request, over the limit of {state.config.max_items_per_request}", 413)
        for entry in entries:
            entry = as_dict(entry, "items[]")
            meta = client_meta(entry.get("meta"))
            if isinstance(entry.get("url"), str):
                session.uploads.add(Upload("url", meta, url=entry["url"]), 1)
            elif isinstance(entry.get("error"), str):  # an item the client already knows failed keeps its place
                session.uploads.add(Upload("failed", meta, error=entry["error"]), 1)
            else:
                raise InputError(f"each item needs a 'url' or an 'error' string, got {entry!r}")
        close = body.get("close")
    if close:
        session.uploads.close()
    return _describe(session)


@router.post("/{sid}/close")
def close_input(sid: str, request: Request) -> dict:
    """No more items will be added; the session completes once the last one is predicted."""
    session = get_state(request).sessions.get(sid)
    session.uploads.close()
    return _describe(session)


@router.get("/{sid}")
def status(sid: str, request: Request) -> dict:
    return _describe(get_state(request).sessions.get(sid))


AFTER = Query(0, ge=0, description="the cursor: how many results to skip")


@router.get("/{sid}/results")
async def results(
    sid: str,
    request: Request,
    after: int = AFTER,
    limit: int = Query(100, ge=1, description=f"results per page; more than {MAX_PAGE} gives {MAX_PAGE}"),
    wait: float = Query(0.0, ge=0, le=MAX_WAIT_S, allow_inf_nan=False, description="seconds to long-poll for a result past after"),
) -> dict:
    """Results from cursor ``after`` (kept until the session is deleted); ``wait`` long-polls up to 30 s."""
    session = get_state(request).sessions.get(sid)
    if wait > 0:
        await session.wait_async(after, wait)  # on the event loop: a long poll holds no worker thread
    items = await run_in_threadpool(session.result_dicts, after, min(limit, MAX_PAGE))
    return {"results": items, "next": after + len(items), "status": _describe(session)}


@router.get("/{sid}/events")
async def events(sid: str, request: Request, after: int = AFTER) -> StreamingResponse:
    """Server-sent events: ``result`` (id = cursor after it), ``status`` on progress, ``end`` when final.

    The stream runs on the event loop and holds no worker thread while it waits. It ends when the
    session is final and every result is sent, when the client disconnects, or when the server shuts
    down (uvicorn cancels open responses after its graceful-shutdown timeout).
    """
    session = get_state(request).sessions.get(sid)
    last_id = request.headers.get("last-event-id")
    cursor = int(last_id) if last_id and last_id.isdigit() else after

    async def stream() -> AsyncIterator[str]:
        nonlocal cursor
        last = None
        yield ": connected\n\n"
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            # a worker thread only when there is something to read: a waiting stream holds none
            page = await run_in_threadpool(session.result_dicts, cursor, 32) if session.status().done > cursor else []
            if page:
                payloads = await run_in_threadpool(lambda: [json.dumps(d) for d in page])
                for data in payloads:
                    cursor += 1
                    yield f"id: {cursor}\nevent: result\ndata: {data}\n\n"
            final = session.status().state.is_final  # read before describing, so the description is at least as new
            described = _describe(session)
            key = (described["state"], described["done"], described["total"], described["failed"])
            if key != last:
                last = key
                quiet_since = time.monotonic()
                yield f"event: status\ndata: {json.dumps(described)}\n\n"
            elif time.monotonic() - quiet_since > KEEPALIVE_S:  # lets clients tell a quiet run from a dead link
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            if final and cursor >= described["done"]:
                yield f"event: end\ndata: {json.dumps(described)}\n\n"
                return
            if not page:
                await session.wait_async(cursor, 0.5)
            await asyncio.sleep(0)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.get("/{sid}/video")
def annotated_video(sid: str, request: Request) -> FileResponse:
    """The annotated H.264 video of a finished video session that asked for one."""
    session = get_state(request).sessions.get(sid)
    if not session.status().state.is_final:
        raise ConflictError("the session is still running: the annotated video is ready when it ends", 409)
    if not session.video.outputs:
        raise NotFoundError("this session made no annotated video (create it with annotated_video=true and a video input)", 404)
    path = next(iter(session.video.outputs.values()))
    return FileResponse(path, media_type="video/mp4", filename="annotated.mp4")


@router.get("/{sid}/timeline")
async def timeline(sid: str, request: Request) -> dict:
    """Per tracked object: class, visible time ranges, one observation per sampled frame."""
    session = get_state(request).sessions.get(sid)
    return await run_in_threadpool(lambda: build_timeline([Prediction.from_dict(d) for d in session.result_dicts(0, None)]).to_dict())


@router.post("/{sid}/stop")
async def stop(sid: str, request: Request) -> dict:
    """Stop after the batch in flight; finished results stay readable."""
    session = await run_in_threadpool(get_state(request).sessions.stop, sid)
    return _describe(session)


@router.delete("/{sid}", status_code=204)
def delete(sid: str, request: Request) -> Response:
    get_state(request).sessions.delete(sid)
    return Response(status_code=204)
