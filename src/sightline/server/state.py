"""What every router reaches through ``request.app.state``: config, models, sessions, uploaded checkpoints, URL fetches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from sightline.errors import NotFoundError
from sightline.server.checkpoints import CheckpointStore
from sightline.server.config import ServerConfig
from sightline.server.live_streams import LiveStreams
from sightline.server.manager import ModelManager
from sightline.server.sessions import SessionStore
from sightline.server.url_pool import UrlFetchPool
from sightline.workspace.store import Workspace


@dataclass
class ServerState:
    config: ServerConfig
    models: ModelManager
    sessions: SessionStore
    checkpoints: CheckpointStore  # uploaded model files
    url_pool: UrlFetchPool  # every URL fetch the server makes
    workspace: Workspace | None = None
    live: LiveStreams = field(default_factory=LiveStreams)  # open live streams (POST /v1/live)
    trusted_proxies: list[Any] = field(default_factory=list)  # config.trusted_proxies, parsed once (server/forwarded.py)
    # called with how many items of a POST /v1/predict (or a compatible route) failed: the metrics count them
    predict_failures: Callable[[int], None] = field(default=lambda count: None)

    def require_workspace(self) -> Workspace:
        if self.workspace is None:
            raise NotFoundError("this server has no workspace (start it with --workspace PATH_OR_URL)", 404)
        return self.workspace


def get_state(request: Request) -> ServerState:
    return request.app.state.sightline
