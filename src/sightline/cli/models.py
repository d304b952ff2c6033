"""``sightline models``: the zoo, or what a server has loaded and can load."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    if args.server:
        import sightline

        with sightline.connect(args.server, args.api_key) as remote:
            default, loaded, available = remote.server_info().get("default_model"), remote.loaded_models(), remote.list_models()
        if args.json:
            print(json.dumps({"default_model": default, "loaded": [m.to_dict() for m in loaded], "available": [e.to_dict() for e in available]}, indent=1))
            return 0
        for m in loaded:
            print(f"{m.name}\tloaded{' (default)' if m.name == default else ''}")
        for e in available:
            print(f"{e.name}\tavailable")
        return 0
    from sightline.models.zoo import list_models

    entries = list_models()
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=1))
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        note = "  (weights download on first use)" if e.needs_download else ""
        print(f"{e.name:<{width}}  {e.task.value:<22}  {e.description}{note}")
    return 0
