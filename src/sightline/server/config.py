"""Server configuration: limits, security switches and defaults, from arguments or ``SIGHTLINE_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


@dataclass
class ServerConfig:
    """Everything the server enforces. Defaults suit a public deployment; loosen them for a trusted one."""

    model: str = "demo/shapes"
    device: str = "auto"
    api_key: str | None = field(default_factory=lambda: os.environ.get("SIGHTLINE_API_KEY") or None)
    max_batch_size: int = 8  # images per forward pass, across all requests and sessions
    batch_wait_ms: float = 3.0  # how long the worker waits for more requests to fill a batch
    max_request_bytes: int = 200 * 1024 * 1024
    max_file_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    # decoded pixels one predict request may use in all (4 × max_image_pixels); items past it fail, each with the reason
    max_request_pixels: int = 200_000_000
    max_sessions: int = 16  # sessions not yet finished, at once
    max_items_per_request: int = 256
    session_ttl_s: float = 3600.0  # a finished session is deleted this long after its last read
    session_idle_s: float = 600.0  # a session waiting for uploads that do not come is stopped after this
    allow_local_paths: bool = field(default_factory=lambda: _env_bool("SIGHTLINE_ALLOW_LOCAL_PATHS", False))
    allow_private_urls: bool = field(default_factory=lambda: _env_bool("SIGHTLINE_ALLOW_PRIVATE_URLS", False))
    url_timeout_s: float = 15.0  # one deadline per URL item: waiting for a fetcher, every redirect and every read
    url_fetch_workers: int = 8  # URL fetches running at once, on the server's own pool (never Starlette's threads)
    url_fetch_queue: int = 64  # URL fetches that may wait for a worker; beyond that a URL item is refused with 429
    max_url_bytes: int = 50 * 1024 * 1024  # one fetched file, counted as it arrives
    # a server started for its owner (deploy(), --expose-tracebacks): tracebacks reach clients, in session
    # status and in 500s; otherwise they go to the server's log only
    expose_tracebacks: bool = field(default_factory=lambda: _env_bool("SIGHTLINE_EXPOSE_TRACEBACKS", False))
    # loading, unloading and uploading models (POST /v1/models/load|upload|unload|unload_all and the vendor
    # layers' equivalents): always open to the key holder of a server with an API key; on a server without
    # one (a public Space) refused with 403 unless this is on, since any visitor could unload everyone's model
    allow_model_admin: bool = field(default_factory=lambda: _env_bool("SIGHTLINE_ALLOW_MODEL_ADMIN", False))
    # the largest img_size a client may ask for (422 above it): one 4096-pixel pass costs ~250 demo-sized ones
    max_img_size: int = field(default_factory=lambda: _env_int("SIGHTLINE_MAX_IMG_SIZE", 1536))
    # proxies whose X-Forwarded-For is believed (addresses or CIDR ranges, comma-separated in the variable):
    # the page's sign-in throttle and the worker's lanes then count the visitor, not the proxy
    trusted_proxies: tuple[str, ...] = field(
        default_factory=lambda: tuple(p.strip() for p in os.environ.get("SIGHTLINE_TRUSTED_PROXIES", "").split(",") if p.strip()))
    max_live_streams: int = 8  # live streams open at once (POST /v1/live)
    live_idle_s: float = 60.0  # a live stream without a frame or status read for this long is closed
    max_loaded_models: int = 3
    workspace: str | None = field(default_factory=lambda: os.environ.get("SIGHTLINE_WORKSPACE") or None)  # a folder or database URL
    max_checkpoint_bytes: int = 512 * 1024 * 1024  # one uploaded model checkpoint (POST /v1/models/upload)
    # uploaded checkpoint files kept in models_dir; a file goes with its model, and past this many the
    # oldest files no loaded model uses are deleted
    max_checkpoint_files: int = 16
    # where uploaded checkpoints are kept; None: <workspace folder>/models, or a temp dir made at startup
    models_dir: str | None = field(default_factory=lambda: os.environ.get("SIGHTLINE_MODELS_DIR") or None)

    # sessions (definition, state, results) are written to the database as they run and survive a restart:
    # the workspace's database, else a SQLite file in state_dir, else a temp folder (not kept across restarts)
    persist_sessions: bool = field(default_factory=lambda: _env_bool("SIGHTLINE_PERSIST_SESSIONS", True))
    state_dir: str | None = field(default_factory=lambda: os.environ.get("SIGHTLINE_STATE_DIR") or None)
    session_memory_results: int = 1000  # with persistence, a session keeps its newest results in memory; older ones are read from the database
    # several server processes share the session database (Ray Serve's HTTP replicas): any of them answers for
    # any session, items are queued in the database, and a session runs on whichever process holds its lease
    shared_sessions: bool = field(default_factory=lambda: _env_bool("SIGHTLINE_SHARED_SESSIONS", False))
    session_lease_s: float = 10.0  # a running session's owner renews its lease this often × 3; lapsed, another process takes it over

    def limits(self) -> dict[str, object]:
        return {
            "max_batch_size": self.max_batch_size,
            "max_request_bytes": self.max_request_bytes,
            "max_file_bytes": self.max_file_bytes,
            "max_checkpoint_bytes": self.max_checkpoint_bytes,
            "max_checkpoint_files": self.max_checkpoint_files,
            "max_loaded_models": self.max_loaded_models,
            "max_image_pixels": self.max_image_pixels,
            "max_request_pixels": self.max_request_pixels,
            "max_sessions": self.max_sessions,
            "max_items_per_request": self.max_items_per_request,
            "session_ttl_s": self.session_ttl_s,
            "max_live_streams": self.max_live_streams,
            "live_idle_s": self.live_idle_s,
            "allow_local_paths": self.allow_local_paths,
            "allow_private_urls": self.allow_private_urls,
            "url_timeout_s": self.url_timeout_s,
            "url_fetch_workers": self.url_fetch_workers,
            "url_fetch_queue": self.url_fetch_queue,
            "max_url_bytes": self.max_url_bytes,
            "max_img_size": self.max_img_size,
            "model_admin": self.model_admin_open(),
        }

    def trusted_networks(self) -> list[Any]:
        """``trusted_proxies`` parsed; ``ValueError`` naming an entry that is not an address or range."""
        from sightline.server.forwarded import parse_networks

        return parse_networks(self.trusted_proxies)

    def model_admin_open(self) -> bool:
        """Whether clients may load, unload and upload models: the key holder of a keyed server, or anyone
        where the operator turned it on."""
        return bool(self.api_key) or self.allow_model_admin
