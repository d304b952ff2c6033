"""``sightline serve``: the HTTP model server (uvicorn)."""

from __future__ import annotations

import argparse
import logging


def run(args: argparse.Namespace) -> int:
    from sightline.server.app import create_app
    from sightline.server.config import ServerConfig
    from sightline.server.run import serve

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = ServerConfig(
        model=args.model,
        device=args.device,
        max_batch_size=args.max_batch_size,
        max_sessions=args.max_sessions,
        allow_local_paths=args.allow_local_paths or ServerConfig().allow_local_paths,
        allow_private_urls=args.allow_private_urls or ServerConfig().allow_private_urls,
        expose_tracebacks=args.expose_tracebacks or ServerConfig().expose_tracebacks,
        allow_model_admin=args.allow_model_admin or ServerConfig().allow_model_admin,
    )
    if args.max_img_size is not None:
        config.max_img_size = args.max_img_size
    if args.trusted_proxy:
        config.trusted_proxies = tuple(args.trusted_proxy)
    if args.api_key:
        config.api_key = args.api_key
    if args.workspace:
        config.workspace = args.workspace
    if args.state_dir:
        config.state_dir = args.state_dir
    if args.no_persist_sessions:
        config.persist_sessions = False
    app = create_app(config)
    serve(app, args.host, args.port, args.log_level)
    return 0
