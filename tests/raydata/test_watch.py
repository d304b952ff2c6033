"""A server on the same database watches a Ray Data job it does not run: status, results by cursor over the
SDK, and a stop from there; ``engine="ray"`` refuses what it cannot do, clearly."""

from __future__ import annotations

import time

import pytest

import sightline
from sightline.engine.status import SessionState
from sightline.errors import InputError, InvalidSettingError
from sightline.local import LocalModel
from tests.raydata.conftest import make_project
from tests.raydata.squares import Squares, make_images
from tests.servers import start_server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(900)  # the cluster's workers import torch on start: minutes on a loaded machine


def test_a_server_on_the_same_database_watches_and_stops_a_ray_job(pg_ws, pg_url, ray_cluster, start_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SIGHTLINE_BLOBS", pg_ws.blobs.location)
    server = start_server(model=Squares(), workspace=pg_url)
    project = make_project(pg_ws, "watched", make_images(1500, seed=3))
    job = LocalModel(Squares(), pg_ws).predict_detached(project_id=project, upload="iou_merge", engine="ray", batch_size=8,
                                                        ray_options={"block_size": 25})
    remote = sightline.connect(server.url)
    try:
        watched = remote.session(job.job_id)  # as the page re-attaches to a run by its id
        first = [watched.next(timeout=300) for _ in range(20)]
        assert [p.image_id for p in first] == [p.image_id for p in job.results(0, 20)]
        assert all(p.upload["mode"] == "iou_merge" for p in first)
        assert 0 < watched.status().done <= 1500 and watched.status().state is SessionState.RUNNING
        t = time.monotonic()
        watched.stop()  # through the server, which asks the job's driver through the database
        assert job.wait_done(timeout=30).state is SessionState.STOPPED
        assert time.monotonic() - t < 10
        final = watched.status()
        assert final.state is SessionState.STOPPED and final.done == job.status().done < 1500
    finally:
        remote.close()
        job.stop()


def test_engine_ray_refuses_what_it_cannot_do(pg_ws):
    model = LocalModel(Squares(), pg_ws)
    project = make_project(pg_ws, "refusals", make_images(2))
    with pytest.raises(InputError, match="workspace images"):
        model.predict_detached("photo.jpg", engine="ray")
    with pytest.raises(InputError, match="not 'create'"):
        model.predict_detached(project_id=project, upload="create", engine="ray")
    with pytest.raises(InvalidSettingError, match="engine must be"):
        model.predict_detached(project_id=project, engine="spark")
    with pytest.raises(InvalidSettingError, match="concurrency"):
        model.predict_detached(project_id=project, engine="ray", ray_options={"concurrency": 0})
    with pytest.raises(InvalidSettingError, match="only applies with engine='ray'"):
        model.predict_detached(project_id=project, resume_job="abc")
    with pytest.raises(sightline.NotFoundError, match="no Ray Data job"):
        model.predict_detached(project_id=project, engine="ray", resume_job="0" * 32)


def test_the_command_line_runs_a_project_on_ray_with_the_demo_model(tmp_path, ray_cluster):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sightline.paths import SAMPLES_DIR
    from sightline.workspace.store import Workspace

    ws = Workspace(tmp_path / "ws")
    project = ws.create_project("samples")
    ws.add_images(ws.create_dataset(project.id, "images").id, SAMPLES_DIR)
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "sightline", "predict", "--workspace", str(tmp_path / "ws"), "--project-id", str(project.id),
           "--upload", "iou_merge", "--ray", "--ray-address", ray_cluster, "--no-progress", "--device", "cpu"]
    done = subprocess.run(cmd, cwd=root, env={**os.environ, "PYTHONPATH": str(root / "src")}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ray Data job" in done.stderr and "--resume-job" in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    images = ws.images(project_id=project.id)
    assert sorted(p["image_id"] for p in lines) == sorted(i.id for i in images)  # the demo model ran in the actors, by name
    assert sum(len(ws.annotations(i.id)) for i in images) == sum(p["upload"]["added"] for p in lines) > 0
    ws.close()
