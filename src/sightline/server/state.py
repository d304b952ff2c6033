"""What every router reaches through ``request.app.state``: config, models and sessions."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from sightline.server.config import ServerConfig
from sightline.server.manager import ModelManager
from sightline.server.sessions import SessionStore


@dataclass
class ServerState:
    config: ServerConfig
    models: ModelManager
    sessions: SessionStore


def get_state(request: Request) -> ServerState:
    return request.app.state.sightline
