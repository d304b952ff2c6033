"""``sightline models``: the zoo, or what a server has loaded and can load."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    if args.server:
        import sightline

        with sightline.connect(args.server, args.api_key) as remote:
            listing = remote.list_models()
        if args.json:
            print(json.dumps(listing, indent=1))
            return 0
        default = listing.get("default_model")
        for m in listing.get("loaded", []):
            name = m.get("name") if isinstance(m, dict) else m
            print(f"{name}\tloaded{' (default)' if name == default else ''}")
        for m in listing.get("available", []):
            name = m.get("name") if isinstance(m, dict) else m
            print(f"{name}\tavailable")
        return 0
    from sightline.models.zoo import list_models

    entries = list_models()
    if args.json:
        print(json.dumps([{"name": e.name, "task": e.task.value, "description": e.description, "needs_download": e.needs_download}
                          for e in entries], indent=1))
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        note = "  (weights download on first use)" if e.needs_download else ""
        print(f"{e.name:<{width}}  {e.task.value:<22}  {e.description}{note}")
    return 0
