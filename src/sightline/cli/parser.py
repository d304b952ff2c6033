"""The command line's arguments: argparse only, so ``sightline --help`` imports nothing heavy."""

from __future__ import annotations

import argparse
import json

FORMATS = ("json", "coco", "yolo", "supervisely")
UPLOAD_MODES = ("create", "append", "replace", "iou_merge")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _img_size(text: str) -> int | tuple[int, int]:
    """``640`` or ``480x640`` (height x width)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"give pixels (640) or HEIGHTxWIDTH (480x640), got {text!r}")
    sizes = [int(p) for p in parts]
    return sizes[0] if len(sizes) == 1 else (sizes[0], sizes[1])


def _ids(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"give IDs separated by commas (3,4,5), got {text!r}") from None


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"give a JSON object such as '{{\"lost_track_buffer\": 30}}', got {text!r}")
    return value


def _formats(text: str) -> list[str]:
    wanted = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"{','.join(unknown) or text!r} is not one of {', '.join(FORMATS)}")
    return wanted


def _model_args(p: argparse.ArgumentParser) -> None:
    where = p.add_argument_group("where the model runs")
    where.add_argument("--model", default=None, help="zoo name or checkpoint path (default: demo/shapes here, the server's default with --server)")
    where.add_argument("--server", metavar="URL", default=None, help="run on this sightline server instead of in this process")
    where.add_argument("--api-key", default=None, help="bearer token for --server (default: $SIGHTLINE_API_KEY)")
    where.add_argument("--device", default=None, help="auto, cpu, cuda:0 ... (in-process only; default: auto)")
    where.add_argument("--workspace", default=None,
                       help="a folder or database URL: workspace IDs as input and --upload (in-process; a server uses its own)")


def add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="run a model over images, folders, URLs, videos or workspace items",
        description="Run a model over SOURCE (files, folders, URLs, videos) or workspace items (--project-id ...), "
        "with a progress bar, and write the results to --out.",
        epilog="example: sightline predict photos/ --conf 0.4 --out results --format json,coco --save-annotated",
    )
    p.add_argument("source", nargs="*", metavar="SOURCE", help="image, folder, URL or video; several are predicted in order")
    _model_args(p)

    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", default=None, help="write results here (default: print one JSON line per item)")
    out.add_argument("--format", type=_formats, default=["json"], metavar="FORMATS",
                     help=f"comma-separated, any of {', '.join(FORMATS)} (default: json, one file per item)")
    out.add_argument("--save-annotated", action="store_true", help="also write annotated images, and the annotated video of a video input")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = p.add_argument_group("model settings")
    s.add_argument("--conf", type=_fraction, help="minimum score (default: the model's)")
    s.add_argument("--iou", type=_fraction, help="NMS IoU threshold (default: the model's)")
    s.add_argument("--max-detections", type=_positive, help="most objects per image")
    s.add_argument("--classes", type=lambda t: [c.strip() for c in t.split(",") if c.strip()], metavar="A,B",
                   help="keep only these classes")
    s.add_argument("--img-size", type=_img_size, metavar="PX|HxW", help="model input size")
    s.add_argument("--batch-size", type=_positive, help="images per forward pass (default: 4)")
    s.add_argument("--agnostic-nms", action="store_true", default=None, help="suppress overlapping boxes across classes")

    i = p.add_argument_group("input options")
    i.add_argument("--recursive", action="store_true", default=None, help="read sub-folders too")
    i.add_argument("--stride", type=_positive, help="video: every Nth frame")
    i.add_argument("--start-frame", type=_not_negative, help="video: first frame")
    ends = i.add_mutually_exclusive_group()
    ends.add_argument("--end-frame", type=_positive, help="video: stop before this frame")
    ends.add_argument("--num-frames", type=_positive, help="video: at most this many frames")
    ends.add_argument("--duration", type=float, help="video: seconds from the start frame")

    v = p.add_argument_group("video")
    v.add_argument("--tracking", action="store_true", default=None, help="track objects across frames")
    v.add_argument("--tracking-config", type=_json_object, metavar="JSON", help="tracker settings, e.g. '{\"tracker\": \"sort\"}'")
    v.add_argument("--traces", action="store_true", default=None, help="draw tracks' recent paths in the annotated video")

    w = p.add_argument_group("workspace")
    w.add_argument("--project-id", type=int, help="predict every image of this project")
    w.add_argument("--dataset-id", type=_ids, metavar="ID[,ID]", help="predict these datasets")
    w.add_argument("--image-ids", type=_ids, metavar="ID[,ID]", help="predict these images")
    w.add_argument("--video-id", type=int, help="predict the frames of this video")
    w.add_argument("--upload", choices=UPLOAD_MODES, metavar="MODE",
                   help=f"upload the results to the workspace: {', '.join(UPLOAD_MODES)} (all but create need workspace IDs)")
    w.add_argument("--upload-project", metavar="NAME", help="name of the project --upload create makes")
    w.add_argument("--iou-merge-threshold", type=_fraction, help="overlap that counts as the same object for iou_merge")

    r = p.add_argument_group("Ray Data (workspace images on a Ray cluster; see docs/scale-out.md)")
    r.add_argument("--ray", action="store_true", help="run as a Ray Data job: decode, model actors, uploads in parallel")
    r.add_argument("--ray-address", metavar="ADDR", help="the cluster to join (default: $RAY_ADDRESS, else a local one)")
    r.add_argument("--ray-concurrency", type=_positive, metavar="N", help="model actors (default: 1)")
    r.add_argument("--ray-gpus", type=float, metavar="G", help="GPUs per model actor (default: 1 when the cluster has GPUs, else 0)")
    r.add_argument("--resume-job", metavar="ID", help="go on with this stopped or interrupted job (the id it printed when it started)")


def add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the models you can load (or those a server has)",
                       description="List the zoo's models, or with --server the server's loaded and available models.")
    p.add_argument("--server", metavar="URL", default=None, help="ask this sightline server")
    p.add_argument("--api-key", default=None, help="bearer token for --server (default: $SIGHTLINE_API_KEY)")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a workspace project as COCO, YOLO or Supervisely files",
                       description="Write a workspace project (images and annotations) to a folder in a common format.",
                       epilog="example: sightline export --workspace data --project 3 --format coco --out exported/")
    p.add_argument("--workspace", default=None, help="a folder or database URL (default: $SIGHTLINE_WORKSPACE, then ./data)")
    p.add_argument("--project", required=True, metavar="ID|NAME", help="the project's ID or name")
    p.add_argument("--format", choices=FORMATS[1:], default="coco", help="coco (default), yolo or supervisely")
    p.add_argument("--out", metavar="DIR", required=True, help="the folder to write")
    p.add_argument("--polygons", action="store_true", help="coco: masks as polygons instead of RLE")


def add_serve(sub: argparse._SubParsersAction) -> None:
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
    s.add_argument("--allow-model-admin", action="store_true",
                   help="let clients load, unload and upload models on a server without an API key (a key holder always may)")
    s.add_argument("--max-img-size", type=int, default=None, help="the largest img_size a client may ask for (default: 1536)")
    s.add_argument("--trusted-proxy", action="append", default=None, metavar="ADDRESS_OR_CIDR",
                   help="believe X-Forwarded-For from this proxy (repeatable; default: $SIGHTLINE_TRUSTED_PROXIES)")
    s.add_argument("--expose-tracebacks", action="store_true",
                   help="send tracebacks to clients (a server for its owner only: they name this machine's files)")
    s.add_argument("--workspace", default=None, help="a folder (SQLite + blobs) or a database URL; default: $SIGHTLINE_WORKSPACE, or none")
    s.add_argument("--state-dir", default=None,
                   help="where sessions persist without a workspace (SQLite) and session files go; default: $SIGHTLINE_STATE_DIR, or a temp folder")
    s.add_argument("--no-persist-sessions", action="store_true", help="keep sessions in memory only (a restart loses them)")
    s.add_argument("--log-level", default="info")
    r = s.add_argument_group("Ray Serve (pip install \"sightline-cv[ray]\"; see docs/scale-out.md)")
    r.add_argument("--ray", action="store_true", help="serve on Ray Serve: the same API, each model a deployment with dynamic batching")
    scale = r.add_mutually_exclusive_group()
    scale.add_argument("--replicas", type=int, default=1, metavar="N", help="model replicas (default: 1)")
    scale.add_argument("--autoscale", default=None, metavar="MIN:MAX", help="model replicas scaled between MIN and MAX on load")
    r.add_argument("--http-replicas", type=int, default=1, metavar="N", help="replicas of the HTTP app (default: 1)")
    r.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="an existing cluster (auto, ray://head:10001); default: a local cluster of this process's own")
    r.add_argument("--num-gpus", type=float, default=None, metavar="G", help="GPUs per model replica (default: 1 when the cluster has one, else 0)")
    r.add_argument("--replica-cpus", type=float, default=None, metavar="C",
                   help="CPUs per model replica, also its model's threads (default: a local cluster's cores shared out among "
                        "the model replicas; 1 on an existing cluster)")


def build_parser() -> argparse.ArgumentParser:
    from sightline import __version__

    parser = argparse.ArgumentParser(prog="sightline", description="sightline: run detection and segmentation models, review and keep the results")
    parser.add_argument("--version", action="version", version=f"sightline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_predict(sub)
    add_models(sub)
    add_export(sub)
    add_serve(sub)
    return parser
