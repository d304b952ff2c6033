"""``sightline predict``: one SDK call (``predict_detached``), its results written as they arrive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sightline.cli.outputs import RunOutputs

# flags that map one-to-one onto predict() keyword arguments
SDK_FLAGS = (
    "conf", "iou", "max_detections", "classes", "img_size", "batch_size", "agnostic_nms", "device",
    "recursive", "stride", "start_frame", "end_frame", "num_frames", "duration",
    "project_id", "dataset_id", "image_ids", "video_id", "upload", "upload_project", "iou_merge_threshold",
    "tracking", "tracking_config", "traces",
)


class UsageError(Exception):
    """Flags that cannot work together: reported like argparse's own errors (exit status 2)."""


def predict_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of the SDK call: only the flags given, so the model's defaults apply."""
    return {name: getattr(args, name) for name in SDK_FLAGS if getattr(args, name, None) is not None}


def open_model(args: argparse.Namespace) -> Any:
    """The SDK handle: in this process (``sightline.load``) or on a server (``sightline.connect``)."""
    import sightline

    if args.server:
        if args.workspace:
            raise UsageError("--workspace is for in-process runs; with --server the server's own workspace is used")
        return sightline.connect(args.server, args.api_key, model=args.model)
    return sightline.load(args.model or "demo/shapes", device=args.device or "auto", workspace=args.workspace)


def _videos_named(sources: list[str]) -> list[str]:
    from sightline.video.probe import is_video_path

    return [s for s in sources if "://" not in s and is_video_path(s) and Path(s).is_file()]


def _check(args: argparse.Namespace) -> None:
    if args.out is None and (args.format != ["json"] or args.save_annotated):
        raise UsageError("--format and --save-annotated write files: give --out DIR")
    if args.source and any(getattr(args, k) is not None for k in ("project_id", "dataset_id", "image_ids", "video_id")):
        raise UsageError("give either SOURCE or workspace IDs (--project-id, --dataset-id, --image-ids, --video-id), not both")
    if args.server and args.device:
        raise UsageError("--device is for in-process runs; a server's model runs where the server loaded it")
    ray_flags = [f for f in ("ray_address", "ray_concurrency", "ray_gpus", "resume_job") if getattr(args, f, None) is not None]
    if ray_flags and not args.ray:
        raise UsageError(f"--{ray_flags[0].replace('_', '-')} applies with --ray")
    if args.ray and (args.server or args.source or args.video_id is not None):
        raise UsageError("--ray runs over workspace images in this process: give --workspace and --project-id, --dataset-id or --image-ids")


def ray_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``engine="ray"`` and its options, from the --ray flags."""
    if not args.ray:
        return {}
    options = {k: v for k, v in (("address", args.ray_address), ("concurrency", args.ray_concurrency), ("num_gpus", args.ray_gpus)) if v is not None}
    out: dict[str, Any] = {"engine": "ray", "ray_options": options}
    if args.resume_job:
        out["resume_job"] = args.resume_job
    return out


def run(args: argparse.Namespace) -> int:
    _check(args)
    kwargs = {**predict_kwargs(args), **ray_kwargs(args)}
    if args.ray:
        kwargs.pop("device", None)  # each actor picks its device
    if args.server:
        kwargs.pop("device", None)
    out = Path(args.out) if args.out else None
    videos = _videos_named(args.source)
    if args.save_annotated and videos and out is not None:
        kwargs["annotated_video"] = str(out / "annotated" / f"{Path(videos[0]).stem}.mp4")
        (out / "annotated").mkdir(parents=True, exist_ok=True)
    source: Any = None if not args.source else args.source[0] if len(args.source) == 1 else list(args.source)

    model = open_model(args)
    try:
        outputs = RunOutputs(model, out, args.format, args.save_annotated)
        # tqdm draws on stderr: stdout may carry JSON lines
        with model.predict_detached(source, tqdm=not args.no_progress, **kwargs) as session:
            if hasattr(session, "job_id"):  # said first: a job killed part way is resumed by this id
                print(f"sightline: Ray Data job {session.job_id} (go on with it after a stop or a crash: --ray --resume-job {session.job_id})",
                      file=sys.stderr, flush=True)
            for pred in session:
                outputs.add(pred)
            status = session.status()
            if "annotated_video" in kwargs and hasattr(session, "video_target"):  # a server wrote it: fetch it
                session.annotated_video()
                if len(videos) > 1:
                    outputs.warnings.append(f"a server returns one annotated video per run: only {videos[0]!r} was saved")
        outputs.finish()
    finally:
        model.close()
    for warning in outputs.warnings:
        print(f"sightline: warning: {warning}", file=sys.stderr)
    where = f" -> {out}" if out is not None else ""
    print(f"sightline: {status.done - status.failed} item(s) predicted, {outputs.objects} object(s), {status.failed} failed{where}",
          file=sys.stderr)
    if outputs.projects:
        print(f"sightline: uploaded ({args.upload}) into project {', '.join(map(str, sorted(outputs.projects)))}", file=sys.stderr)
    return 1 if status.failed else 0
