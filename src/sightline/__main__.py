"""Command line: ``python -m sightline serve`` starts the model server."""

from __future__ import annotations

import argparse
import logging

from sightline.server.config import ServerConfig


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from sightline.server.app import create_app

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sightline", description="sightline: run and review detection models")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="start the HTTP model server")
    s.add_argument("--model", default="demo/shapes", help="zoo name or checkpoint path (default: demo/shapes)")
    s.add_argument("--device", default="auto")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--api-key", default=None, help="require this bearer token (default: $SIGHTLINE_API_KEY)")
    s.add_argument("--max-batch-size", type=int, default=8)
    s.add_argument("--max-sessions", type=int, default=16)
    s.add_argument("--allow-local-paths", action="store_true", help="let clients name files on this machine")
    s.add_argument("--allow-private-urls", action="store_true", help="let clients make the server fetch private/loopback URLs")
    s.add_argument("--workspace", default=None, help="a folder (SQLite + blobs) or a database URL; default: $SIGHTLINE_WORKSPACE, or none")
    s.add_argument("--expose-tracebacks", action="store_true",
                   help="send tracebacks to clients (a server for its owner only: they name this machine's files)")
    s.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "serve":
        serve(args)


if __name__ == "__main__":
    main()
