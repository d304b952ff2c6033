"""The ``sightline`` command: ``predict``, ``models``, ``export``, ``serve``.

Arguments are parsed before anything heavy is imported, so ``sightline --help`` answers at once; each
command is a client of the SDK (``sightline.load`` / ``connect``) like any script.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from sightline.cli.parser import build_parser

COMMANDS = {"predict": "sightline.cli.predict", "models": "sightline.cli.models", "export": "sightline.cli.export",
            "serve": "sightline.cli.serve"}


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (2 for bad usage, 1 for a failed run)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = importlib.import_module(COMMANDS[args.command])
    from sightline.errors import InputError, InvalidSettingError, SightlineError

    # the SDK's warnings (videos skipped in a folder, ...) read as one line each, like the errors
    warnings.formatwarning = lambda message, *_args, **_kw: f"sightline {args.command}: warning: {message}\n"
    try:
        return int(command.run(args) or 0)
    except getattr(command, "UsageError", ()) as exc:
        _usage(parser, args.command, str(exc))
    except (InvalidSettingError, InputError) as exc:  # a flag's value the SDK refused: a usage error too
        _usage(parser, args.command, str(exc))
    except SightlineError as exc:
        print(f"sightline {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sightline {args.command}: stopped", file=sys.stderr)
        return 130
    return 2


def _usage(parser: argparse.ArgumentParser, command: str, message: str) -> None:
    print(f"sightline {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)
