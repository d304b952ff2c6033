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
    if args.ray:
        return _serve_on_ray(args, config)
    app = create_app(config)
    serve(app, args.host, args.port, args.log_level)
    return 0


def _serve_on_ray(args: argparse.Namespace, config: object) -> int:
    """``--ray``: the same app on Ray Serve (HTTP replicas, model replicas with @serve.batch)."""
    try:
        from sightline.server import ray_serve
    except ImportError as exc:
        raise SystemExit(f"sightline serve --ray needs Ray Serve: pip install \"sightline-cv[ray]\" ({exc})") from None
    if args.replicas < 1 or args.http_replicas < 1:
        raise SystemExit("--replicas and --http-replicas take a number of at least 1")
    options = ray_serve.RayOptions(
        replicas=args.replicas, autoscale=ray_serve.parse_autoscale(args.autoscale) if args.autoscale else None,
        http_replicas=args.http_replicas, address=args.ray_address, num_gpus=args.num_gpus, num_cpus=args.replica_cpus,
    )
    ray_serve.run_forever(config, [args.model], options, args.host, args.port)  # type: ignore[arg-type]
    return 0
