"""The "Demo shapes" project a fresh workspace starts with: the sample images and video from assets/."""

from __future__ import annotations

from pathlib import Path

from sightline.paths import SAMPLES_DIR
from sightline.workspace.store import Workspace

DEMO_PROJECT = "Demo shapes"
MARKER = "demo_seeded"


def seed_demo(ws: Workspace, samples: Path = SAMPLES_DIR) -> int | None:
    """Create the demo project once per workspace (a marker remembers it, even if it is deleted later)."""
    if ws.blobs.has_marker(MARKER):
        return None
    project = ws.create_project(DEMO_PROJECT, "sample images and a video of moving shapes, to try the model on")
    images = ws.create_dataset(project.id, "images")
    ws.add_images(images.id, sorted(samples.glob("*.jpg")))
    videos = ws.create_dataset(project.id, "videos")
    for video in sorted(samples.glob("*.mp4")):
        ws.add_video(videos.id, video)
    ws.blobs.set_marker(MARKER, str(project.id))
    return project.id
