"""Build the FastAPI application: routers, auth, limits, error handlers, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

import sightline
from sightline.models.base import Model
from sightline.server import compat, errors
from sightline.server.checkpoints import CheckpointStore
from sightline.server.config import ServerConfig
from sightline.server.errors import error_body
from sightline.server.manager import ModelManager
from sightline.server.metrics import install_metrics
from sightline.server.routers import info, live, models, predict, sessions, uploads
from sightline.server.routers import workspace as workspace_router
from sightline.server.security import check_api_key
from sightline.server.sessions import SessionStore
from sightline.server.state import ServerState
from sightline.workspace.store import Workspace


def create_app(
    config: ServerConfig | None = None, model: Model | None = None, load_default: bool = True, workspace: Workspace | None = None
) -> FastAPI:
    """The server app. ``model`` serves an already-loaded model; otherwise ``config.model`` is loaded.
    ``workspace`` (or ``config.workspace``) makes projects readable and usable as inputs and upload targets."""
    config = config or ServerConfig()
    manager = ModelManager(config.max_loaded_models, config.max_batch_size, config.batch_wait_ms)
    if workspace is None and config.workspace:
        workspace = Workspace(config.workspace)
    state = ServerState(config, manager, SessionStore(config, manager), CheckpointStore.for_config(config), workspace)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def sweeper() -> None:
            while True:
                await asyncio.sleep(30)
                await asyncio.to_thread(state.sessions.sweep)

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            state.sessions.close()
            manager.unload_all()
            state.checkpoints.close()

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

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path == models.UPLOAD_PATH:  # a checkpoint has its own limit, checked by the route
            return await call_next(request)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > config.max_request_bytes:
            message = f"the request is {int(length):,} bytes, over the limit of {config.max_request_bytes:,}"
            return JSONResponse(error_body("PayloadTooLargeError", message, 413), status_code=413)
        return await call_next(request)

    install_metrics(app, state, require_key)
    errors.install(app)
    app.include_router(info.public)
    secured = [Depends(require_key)]
    for router in (info.router, models.router, predict.router, sessions.router, live.router, uploads.router, workspace_router.router):
        app.include_router(router, dependencies=secured)
    compat.mount(app)  # /roboflow and /supervisely: vendor clients, each layer checks the key where its client sends it
    return app
