"""The HTTP model server: FastAPI routers per resource over one inference worker per model."""

from sightline.server.app import create_app
from sightline.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
