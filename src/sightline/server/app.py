"""Build the FastAPI application: routers, auth, limits, error handlers, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request

import sightline
from sightline.models.base import Model
from sightline.server import compat, errors
from sightline.server.body_limit import BodyLimit
from sightline.server.checkpoints import CheckpointStore
from sightline.server.config import ServerConfig
from sightline.server.live_streams import LiveStreams
from sightline.server.manager import ModelManager
from sightline.server.metrics import install_metrics
from sightline.server.routers import info, live, models, predict, sessions, uploads
from sightline.server.routers import workspace as workspace_router
from sightline.server.security import check_api_key
from sightline.server.session_db import open_session_storage
from sightline.server.sessions import SessionStore
from sightline.server.state import ServerState
from sightline.server.url_pool import UrlFetchPool
from sightline.workspace.store import Workspace

TAKEOVER_TIMEOUT_S = 120.0  # preparing a lapsed session to run here (a workspace input is resolved again)


def create_app(
    config: ServerConfig | None = None, model: Model | None = None, load_default: bool = True, workspace: Workspace | None = None,
    manager: ModelManager | None = None,
) -> FastAPI:
    """The server app. ``model`` serves an already-loaded model; otherwise ``config.model`` is loaded.
    ``workspace`` (or ``config.workspace``) makes projects readable and usable as inputs and upload targets.
    ``manager``: where models come from (the Ray Serve ingress passes one whose models are deployments)."""
    config = config or ServerConfig()
    trusted = config.trusted_networks()  # a bad entry stops the start here, before any thread is started
    manager = manager or ModelManager(config.max_loaded_models, config.max_batch_size, config.batch_wait_ms)
    if workspace is None and config.workspace:
        workspace = Workspace(config.workspace)
    live_streams = LiveStreams(config.max_live_streams, config.live_idle_s)
    url_pool = UrlFetchPool(config)
    session_db, session_root, temporary = open_session_storage(config.persist_sessions, config.state_dir, workspace.engine if workspace else None,
                                                               shared=config.shared_sessions, lease_s=config.session_lease_s)
    session_store = SessionStore(config, manager, session_root, url_pool=url_pool, db=session_db, temporary_root=temporary)
    manager.in_use = session_store.models_in_use
    checkpoints = CheckpointStore.for_config(config)
    manager.unloaded.append(checkpoints.forget)  # an uploaded model's file goes with it
    state = ServerState(config, manager, session_store, checkpoints, url_pool, workspace, live_streams, trusted)
    sweep_every = max(0.25, min(30.0, config.live_idle_s / 2))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def sweeper() -> None:
            """Expires idle sessions and live streams; cancelled when the server shuts down."""
            while True:
                await asyncio.sleep(sweep_every)
                await asyncio.to_thread(state.sessions.sweep)
                await asyncio.to_thread(state.live.sweep)

        task = asyncio.create_task(sweeper())
        loop = asyncio.get_running_loop()

        def on_lapsed(sid: str) -> None:
            """A session whose owner died runs on here (called by the lease keeper's thread)."""
            asyncio.run_coroutine_threadsafe(sessions.take_over(state, sid), loop).result(TAKEOVER_TIMEOUT_S)

        state.sessions.start_leases(on_lapsed)  # shared mode only
        try:
            yield
        finally:
            task.cancel()
            await asyncio.to_thread(state.live.close_all)
            state.sessions.close()
            manager.unload_all()
            state.checkpoints.close()
            url_pool.close()

    if model is not None:
        manager.add(model, make_default=True)
    elif load_default and config.model:
        manager.load(config.model, config.device)

    def require_key(request: Request) -> None:
        check_api_key(request, config.api_key)

    app = FastAPI(
        title="sightline model server",
        version=sightline.__version__,
        description="Run detection and segmentation models over HTTP. Masks travel as COCO RLE. See docs/server.md.",
        lifespan=lifespan,
    )
    app.state.sightline = state

    app.add_middleware(BodyLimit, config=config)  # every route, the page's included
    install_metrics(app, state, require_key)
    errors.install(app, config.expose_tracebacks)
    app.include_router(info.public)
    secured = [Depends(require_key)]
    for router in (info.router, models.router, predict.router, sessions.router, live.router, uploads.router, workspace_router.router):
        app.include_router(router, dependencies=secured)
    compat.mount(app)  # /roboflow and /supervisely: vendor clients, each layer checks the key where its client sends it
    return app
