"""``sightline export``: a workspace project to COCO, YOLO or Supervisely files (the workspace's own exporters)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    import os

    from sightline.workspace.store import Workspace

    ws = Workspace(args.workspace or os.environ.get("SIGHTLINE_WORKSPACE") or None)
    try:
        project = ws.project(int(args.project) if args.project.isdigit() else args.project)
        out = Path(args.out)
        if args.format == "coco":
            from sightline.workspace.formats.coco import export_coco

            export_coco(ws, project.id, out, polygons=args.polygons)
        elif args.format == "yolo":
            from sightline.workspace.formats.yolo import export_yolo

            export_yolo(ws, project.id, out)
        else:
            from sightline.workspace.formats.supervisely import export_project

            export_project(ws, project.id, out)
    finally:
        ws.close()
    print(f"sightline: project {project.id} ({project.name!r}) written as {args.format} to {out}", file=sys.stderr)
    return 0
