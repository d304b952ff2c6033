"""The sightline web app and REST API on one port, on embedded defaults: the bundled demo model.

    make run            # or: .venv/bin/python app.py
Environment: SIGHTLINE_MODEL (default demo/shapes), SIGHTLINE_DEVICE (auto), SIGHTLINE_API_KEY,
SIGHTLINE_WORKSPACE (default ./data: SQLite and blobs; or a database URL), GRADIO_SERVER_NAME
(127.0.0.1; 0.0.0.0 in a container), GRADIO_SERVER_PORT (7860), SIGHTLINE_ALLOW_MODEL_ADMIN (deploying
other models from the page: on for 127.0.0.1, off on other addresses without an API key).
The page predicts through the SDK against this same server: there is no second path to the model.
"""

from __future__ import annotations

import os
import sys
import tempfile

from fastapi import FastAPI

from sightline.client.remote import RemoteModel
from sightline.paths import filesystem_type, unwritable_folder
from sightline.server import ServerConfig, create_app
from sightline.server.run import serve
from sightline.ui.app import mount_ui
from sightline.workspace.seed import seed_demo
from sightline.workspace.store import Workspace


def workspace_location() -> str:
    """SIGHTLINE_WORKSPACE; when that folder cannot be made or written (a Space's ``/data`` without its
    storage, or not writable by uid 1000), a temporary folder, with a message saying so."""
    location = os.environ.get("SIGHTLINE_WORKSPACE", "data")
    problem = None if "://" in location else unwritable_folder(location)
    if problem is None:
        if "://" not in location and filesystem_type(location).startswith("fuse"):
            print(f"sightline: WARNING: the workspace folder {location} is on a FUSE mount ({filesystem_type(location)}): "
                  "SQLite needs file locking such mounts may not provide. Use PostgreSQL for a workspace that persists "
                  "(docs/ui.md).", file=sys.stderr, flush=True)
        return location
    fallback = tempfile.mkdtemp(prefix="sightline-workspace-")
    print(f"sightline: WARNING: the workspace folder {location} {problem}. Using {fallback} instead: projects and "
          "uploads there do not persist. Make the folder writable for this user, or set SIGHTLINE_WORKSPACE to "
          "another folder or a database URL.", file=sys.stderr, flush=True)
    return fallback


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build(host: str = "127.0.0.1", port: int = 7860) -> FastAPI:
    config = ServerConfig(
        model=os.environ.get("SIGHTLINE_MODEL", "demo/shapes"),
        device=os.environ.get("SIGHTLINE_DEVICE", "auto"),
        workspace=workspace_location(),
    )
    # only this machine reaches a loopback app: its user owns it and may deploy models from the page; an app
    # bound to every address (a container, a Space) refuses that without a key unless the operator allows it
    config.allow_model_admin = config.allow_model_admin or host in LOOPBACK
    workspace = Workspace(config.workspace)
    seed_demo(workspace)  # a fresh workspace starts with the "Demo shapes" project
    api = create_app(config, workspace=workspace)
    info = api.state.sightline.models.get().model.info()
    client = RemoteModel(f"http://127.0.0.1:{port}", config.api_key)  # the page's own SDK handle
    return mount_ui(api, client, info)


def main() -> None:
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(f"sightline: http://{host}:{port}  (API docs at /docs)", flush=True)
    # open event streams (runs, the page) must not hold a stop or restart for long
    serve(build(host, port), host, port, "warning")


if __name__ == "__main__":
    main()
