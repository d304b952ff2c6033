"""``sightline serve``: the HTTP model server (uvicorn)."""

from __future__ import annotations

import argparse
import logging


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from sightline.server.app import create_app
    from sightline.server.config import ServerConfig

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = ServerConfig(
        model=args.model,
        device=args.device,
        max_batch_size=args.max_batch_size,
        max_sessions=args.max_sessions,
        allow_local_paths=args.allow_local_paths or ServerConfig().allow_local_paths,
        allow_private_urls=args.allow_private_urls or ServerConfig().allow_private_urls,
        expose_tracebacks=args.expose_tracebacks or ServerConfig().expose_tracebacks,
    )
    if args.api_key:
        config.api_key = args.api_key
    if args.workspace:
        config.workspace = args.workspace
    app = create_app(config)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5)
    return 0
