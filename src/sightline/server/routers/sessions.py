"""Detached sessions: create, add items, close, status, results by cursor, SSE events, stop, delete."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from sightline.engine.status import SessionState
from sightline.engine.video_steps import video_args
from sightline.errors import ConflictError, InputError, InvalidSettingError, PayloadTooLargeError, RateLimitedError
from sightline.inputs.items import InputPlan
from sightline.inputs.resolve import plan_sources
from sightline.inputs.workspace import workspace_sources
from sightline.prediction import Prediction
from sightline.request import MAX_NAME, Callback
from sightline.server.bodies import AddItems, CreateSession, ItemsForm, SessionItem, parse_body, request_body
from sightline.server.callers import Caller, caller_of
from sightline.server.fairness import check_img_size
from sightline.server.requests import in_memory, is_multipart, parse_last_event_id, read_form, read_json, save_upload
from sightline.server.sessions import ServerSession
from sightline.server.state import ServerState, get_state
from sightline.server.uploads import Upload, UploadPlan, client_meta
from sightline.settings import InputOptions, PredictSettings
from sightline.video.probe import is_video_path
from sightline.video.timeline import build_timeline
from sightline.workspace.run_upload import RunUploader
from sightline.workspace.uploads import UploadMode

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
log = logging.getLogger("sightline.server")

MAX_BACKLOG = 512  # uploads accepted but not yet read by the engine, per session
MAX_PAGE = 1000
KEEPALIVE_S = 10.0
MAX_WAIT_S = 30.0


def _describe(session: ServerSession) -> dict[str, Any]:
    return session.describe()


def _session(request: Request, sid: str) -> ServerSession:
    """The session ``sid`` if the caller owns it (or nobody does); another owner's is 404, as if it never existed."""
    return get_state(request).sessions.get(sid, caller_of(request))


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
    close: bool | None = None  # close the input now (default: when the URLs given are all the items)


async def _prepare(state: ServerState, raw: dict[str, Any], run: dict[str, Any] | None = None) -> _Prepared:
    """Check a create request (or a stored one, to resume: ``run`` continues its workspace run record)."""
    body = await run_in_threadpool(parse_body, CreateSession, raw)
    urls = body.urls or []
    total = body.total if body.total is not None else len(urls)
    if total < len(urls):
        raise InvalidSettingError(f"total must be at least the {len(urls)} URLs given, got {total}")
    worker = state.models.get(body.model)
    settings = check_img_size(body.predict_settings(worker.model.classes), state.config.max_img_size)
    options = body.input_options()
    ids = body.ids()
    plan = None
    if ids:
        if urls or body.total:
            raise InputError(f"give exactly one input source: workspace IDs ({', '.join(ids)}) or uploaded items, not both")
        sources = await run_in_threadpool(workspace_sources, state.workspace, body, options)
        plan = plan_sources(sources)
        total = plan.total
    video = video_args(body)
    uploader = None  # made last: nothing after it may fail without abandoning it
    if body.upload is not None:
        ws = state.require_workspace()
        mode, threshold = UploadMode(body.upload), body.iou_merge_threshold if body.iou_merge_threshold is not None else 0.9
        run = run or {}
        uploader = await run_in_threadpool(
            lambda: RunUploader(ws, mode, worker.model.name, settings.resolved(worker.model.default_settings).to_dict(),
                                threshold, body.upload_project, bool(ids), into_project=run.get("project_id"), run_id=run.get("run_id"),
                                record_positions=True)
        )
    callback = body.callback
    return _Prepared(worker, settings, options, total, urls, callback, plan, uploader, video, body.close)


@router.post("", status_code=201, openapi_extra=request_body(CreateSession))
async def create(request: Request) -> dict:
    """Start a session. ``total`` items will follow by ``POST /items`` (``urls`` given here count too)."""
    return _describe(await start_session(get_state(request), await read_json(request), caller_of(request)))


async def start_session(state: ServerState, raw: dict[str, Any], caller: Caller | None) -> ServerSession:
    """Validate a session request (the body of ``POST /v1/sessions``) and start the session, owned by ``caller``.
    The compatibility layers (``server/compat``) call this too, so every session gets the same checks."""
    p = await _prepare(state, raw)
    # kept to resume the session after a restart: the request without its callback (a password) and URLs (sent as items)
    definition = {k: v for k, v in raw.items() if k not in ("callback", "urls", "close")} | {"model": p.worker.model.name, "total": p.total}
    try:
        session = await run_in_threadpool(state.sessions.create, p.worker.model.name, p.settings, p.options, p.total, p.callback, p.plan,
                                          p.uploader, p.video, definition, caller)
    except Exception as exc:
        if p.uploader is not None:  # its run record would stay 'running' and its project empty
            await run_in_threadpool(p.uploader.abandon, f"the session was not started: {exc}")
        raise
    for url in p.urls:
        session.uploads.add(Upload("url", {}, url=url), 1)
    if p.close if p.close is not None else (bool(p.urls) and p.total == len(p.urls)):
        session.uploads.close()
    return session


@router.post("/{sid}/resume")
async def resume(sid: str, request: Request) -> dict:
    """Run an interrupted session on from its first unfinished item. Workspace inputs go on by themselves;
    a client-fed session takes the remaining ``total - done`` items by ``POST /items`` as at creation."""
    state: ServerState = get_state(request)
    caller = caller_of(request)
    session = state.sessions.get(sid, caller)
    if session.kind == "ray":
        raise ConflictError(f"session {sid} is a Ray Data job: its driver resumes it (resume_job= in the SDK, --resume-job on the command line)", 409)
    if session.status().state is not SessionState.INTERRUPTED:
        raise ConflictError(f"session {sid} is {session.status().state.value}: only an interrupted session can be resumed", 409)
    stored = {k: v for k, v in session.definition.items() if k in CreateSession.model_fields and k != "total"}  # the store knows what remains
    p = await _prepare(state, stored, run=session.definition.get("run"))
    session = await run_in_threadpool(state.sessions.resume, sid, p.settings, p.options, p.plan, p.uploader, p.video, caller)
    return _describe(session)


async def take_over(state: ServerState, sid: str) -> None:
    """Run here a session this process claimed from one whose lease lapsed (shared sessions): its stored
    request goes through the same checks as a resume, and it runs on from the first unfinished item. One
    that cannot run here (its model is not deployed, say) ends failed with the reason."""
    try:
        session = state.sessions.get(sid, None)
        stopping = session.status().state is SessionState.STOPPING  # asked to stop before its owner died
        stored = {k: v for k, v in session.definition.items() if k in CreateSession.model_fields and k != "total"}
        p = await _prepare(state, stored, run=session.definition.get("run"))
        session = await run_in_threadpool(state.sessions.resume, sid, p.settings, p.options, p.plan, p.uploader, p.video,
                                          takeover=True)
        if stopping:
            session.runner.stop()
    except Exception as exc:
        log.exception("session %s: it could not be taken over", sid)
        await run_in_threadpool(state.sessions.fail_claimed, sid, f"the session could not run on after its server was lost: {exc}")


@router.get("")
def list_sessions(request: Request) -> dict:
    """The caller's sessions: all of them on a server with an API key; else those made with the caller's
    ``X-Sightline-Client`` token (a request without one lists none)."""
    return {"sessions": [_describe(s) for s in get_state(request).sessions.owned_by(caller_of(request))]}


ITEM_FILES = "image or video files to add (multipart)"


@router.post("/{sid}/items", openapi_extra=request_body(AddItems, ItemsForm, ITEM_FILES))
async def add_items(sid: str, request: Request) -> dict:
    """Add uploaded files (multipart ``files`` with a ``meta`` list) or ``urls`` to a session's input."""
    state: ServerState = get_state(request)
    session = _session(request, sid)
    if session.uploads.pending >= MAX_BACKLOG:
        raise RateLimitedError(f"session {sid} has {session.uploads.pending} items waiting; send more once it catches up")
    if is_multipart(request):
        fields, files = await read_form(request, state.config)
        form = await run_in_threadpool(parse_body, ItemsForm, fields)
        metas = form.meta or []
        for i, f in enumerate(files):
            raw = (metas[i] if i < len(metas) else None) or {}
            meta = client_meta(raw)
            meta.setdefault("source", f.filename or f"file {i}")
            video = raw.get("kind") == "video" or (raw.get("kind") is None and is_video_path(f.filename or ""))
            # an image of a session of this process waits in memory: no disk write, read back and delete
            if not video and isinstance(session.uploads, UploadPlan) and in_memory(f) and session.uploads.has_room(f.size or 0):
                await f.seek(0)
                session.uploads.add(Upload("image", meta, data=await f.read()), 1)
                continue
            path = await run_in_threadpool(save_upload, f, session.folder)
            if video:
                frames = await run_in_threadpool(session.uploads.frames_in, path, f.filename)
                session.uploads.add(Upload("video", meta, path=path), frames)
            else:
                session.uploads.add(Upload("image", meta, path=path), 1)
        close = form.close
    else:
        body = await run_in_threadpool(parse_body, AddItems, await read_json(request))
        entries = [SessionItem(url=u) for u in body.urls or []] + list(body.items or [])
        if len(entries) > state.config.max_items_per_request:
            raise PayloadTooLargeError(f"{len(entries)} items in one request, over the limit of {state.config.max_items_per_request}", 413)
        for i, entry in enumerate(body.items or []):
            if entry.url is None and entry.error is None:
                raise InvalidSettingError(f"items[{i}] needs a 'url' or an 'error' string")
        for entry in entries:
            meta = client_meta(entry.meta)
            if entry.url is not None:
                session.uploads.add(Upload("url", meta, url=entry.url), 1)
            else:  # an item the client already knows failed keeps its place
                session.uploads.add(Upload("failed", meta, error=entry.error), 1)
        close = body.close
    if close:
        session.uploads.close()
    return _describe(session)


@router.post("/{sid}/close")
def close_input(sid: str, request: Request) -> dict:
    """No more items will be added; the session completes once the last one is predicted."""
    session = _session(request, sid)
    session.uploads.close()
    return _describe(session)


@router.get("/{sid}")
def status(sid: str, request: Request) -> dict:
    return _describe(_session(request, sid))


AFTER = Query(0, ge=0, le=2**63 - 1, description="the cursor: how many results to skip")


@router.get("/{sid}/results")
async def results(
    sid: str,
    request: Request,
    after: int = AFTER,
    limit: int = Query(100, ge=1, description=f"results per page; more than {MAX_PAGE} gives {MAX_PAGE}"),
    wait: float = Query(0.0, ge=0, le=MAX_WAIT_S, allow_inf_nan=False, description="seconds to long-poll for a result past after"),
) -> dict:
    """Results from cursor ``after`` (kept until the session is deleted); ``wait`` long-polls up to 30 s."""
    session = _session(request, sid)
    if wait > 0:
        await session.wait_async(after, wait)  # on the event loop: a long poll holds no worker thread
    items = await run_in_threadpool(session.result_dicts, after, min(limit, MAX_PAGE))
    return {"results": items, "next": after + len(items), "status": _describe(session)}


@router.get("/{sid}/events")
async def events(sid: str, request: Request, after: int = AFTER) -> EventSourceResponse:
    """Server-sent events: ``result`` (id = cursor after it), ``status`` on progress, ``end`` when final.

    The stream runs on the event loop and holds no worker thread while it waits. It ends when the
    session is final and every result is sent, when the client disconnects, or when the server shuts
    down (uvicorn cancels open responses after its graceful-shutdown timeout). sse-starlette frames the
    events and sends a keepalive comment every ``KEEPALIVE_S``, so clients tell a quiet run from a dead link.
    """
    session = _session(request, sid)
    cursor = parse_last_event_id(request.headers.get("last-event-id"), after)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        nonlocal cursor
        last = None
        yield ServerSentEvent(comment="connected")
        while not await request.is_disconnected():
            # a worker thread only when there is something to read: a waiting stream holds none
            page = await run_in_threadpool(session.result_texts, cursor, 32) if session.status().done > cursor else []
            if page:
                for data in page:
                    cursor += 1
                    yield ServerSentEvent(data, event="result", id=str(cursor))
            final = session.status().state.is_final  # read before describing, so the description is at least as new
            described = _describe(session)
            key = (described["state"], described["done"], described["total"], described["failed"])
            if key != last:
                last = key
                yield ServerSentEvent(json.dumps(described), event="status")
            if final and cursor >= described["done"]:
                yield ServerSentEvent(json.dumps(described), event="end")
                return
            if not page:
                await session.wait_async(cursor, 0.5)
            await asyncio.sleep(0)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventSourceResponse(stream(), headers=headers, ping=KEEPALIVE_S)


@router.get("/{sid}/video")
def annotated_video(
    sid: str, request: Request,
    source: str | None = Query(None, max_length=MAX_NAME, description="which video: a prediction's source (default: the first)"),
) -> FileResponse:
    """The annotated H.264 video of a finished video session that asked for one."""
    session = _session(request, sid)
    if not session.status().state.is_final:
        raise ConflictError("the session is still running: the annotated video is ready when it ends")
    return FileResponse(session.video.output(source), media_type="video/mp4", filename="annotated.mp4")


@router.get("/{sid}/timeline")
async def timeline(sid: str, request: Request) -> dict:
    """Per tracked object: class, visible time ranges, one observation per sampled frame."""
    session = _session(request, sid)
    return await run_in_threadpool(lambda: build_timeline([Prediction.from_dict(d) for d in session.result_dicts(0, None)]).to_dict())


@router.post("/{sid}/stop")
async def stop(sid: str, request: Request) -> dict:
    """Stop after the batch in flight; finished results stay readable."""
    session = await run_in_threadpool(get_state(request).sessions.stop, sid, caller_of(request))
    return _describe(session)


@router.delete("/{sid}", status_code=204)
def delete(sid: str, request: Request) -> Response:
    get_state(request).sessions.delete(sid, caller_of(request))
    return Response(status_code=204)
