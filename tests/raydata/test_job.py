"""Ray Data jobs over a workspace project on PostgreSQL: the same objects as a run without Ray, each
image's exactly once; stop; resume after a stop and after the driver was killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sightline.engine.status import SessionState
from sightline.local import LocalModel
from sightline.workspace.schema import Annotation, Dataset, Image, ObjectClass, StoredResult, StoredSession
from tests.raydata.conftest import make_project
from tests.raydata.squares import Squares, make_images

N = 2000  # the project compared with a run without Ray
M = 600  # the projects that are stopped or killed part way
# a Ray cluster's workers each import torch on start: minutes on a loaded 2-core machine
pytestmark = pytest.mark.timeout(1500)
ROOT = Path(__file__).resolve().parents[2]


def objects_by_image(ws, project_id: int) -> dict[str, list[tuple]]:
    """Each image's objects by image name: (class, box, mask, score), sorted."""
    with ws.transaction() as s:
        rows = s.execute(select(Image.name, ObjectClass.name, Annotation.x0, Annotation.y0, Annotation.x1, Annotation.y1,
                                Annotation.mask_rle, Annotation.score)
                         .join(Annotation, Annotation.image_id == Image.id).join(ObjectClass, Annotation.class_id == ObjectClass.id)
                         .join(Dataset, Image.dataset_id == Dataset.id).where(Dataset.project_id == project_id)).all()
    out: dict[str, list[tuple]] = {}
    for name, *obj in rows:
        out.setdefault(name, []).append(tuple(round(v, 4) if isinstance(v, float) else v for v in obj))
    return {k: sorted(v) for k, v in out.items()}


def recorded(ws, sid: str) -> list[dict]:
    with ws.transaction() as s:
        rows = s.execute(select(StoredResult.position, StoredResult.data).where(StoredResult.session_id == sid)
                         .order_by(StoredResult.position)).all()
    assert [p for p, _ in rows] == list(range(len(rows)))  # cursor positions without a hole
    return [json.loads(zlib.decompress(d)) for _, d in rows]


def test_ray_job_uploads_each_image_once_and_equals_the_run_without_ray(pg_ws, ray_cluster):
    images = make_images(N)
    with_ray, without = make_project(pg_ws, "with ray", images), make_project(pg_ws, "without ray", images)
    model = LocalModel(Squares(), pg_ws)

    session = model.predict_detached(project_id=with_ray, upload="iou_merge", engine="ray", batch_size=16,
                                     ray_options={"concurrency": 2, "model_cpus": 0.7, "block_size": 100})
    status = session.wait_done(timeout=600)
    assert status.state is SessionState.COMPLETED, status.error
    assert (status.done, status.total, status.failed) == (N, N, 0)
    plain = model.predict_detached(project_id=without, upload="iou_merge", batch_size=16).wait_done(timeout=600)
    assert plain.state is SessionState.COMPLETED

    got, want = objects_by_image(pg_ws, with_ray), objects_by_image(pg_ws, without)
    assert sum(map(len, want.values())) > N  # the images have objects to compare
    assert got == want
    results = recorded(pg_ws, session.job_id)
    assert len(results) == N and len({r["image_id"] for r in results}) == N  # every image exactly once
    assert sum(r["upload"]["added"] for r in results) == sum(map(len, got.values()))
    by_cursor = session.results(0, 5)  # results by cursor, as a server's reader would get them
    assert [p.image_id for p in by_cursor] == [r["image_id"] for r in results[:5]]


def _wait_rows(ws, sid: str, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ws.transaction() as s:
            n = s.scalar(select(func.count()).select_from(StoredResult).where(StoredResult.session_id == sid)) or 0
        if n >= at_least:
            return n
        time.sleep(0.2)
    raise AssertionError(f"job {sid}: fewer than {at_least} results after {timeout} s")


def test_stop_is_prompt_and_a_stopped_job_resumes_without_repeating_an_image(pg_ws, ray_cluster):
    project = make_project(pg_ws, "stop and resume", make_images(M, seed=1))
    model = LocalModel(Squares(), pg_ws)
    session = model.predict_detached(project_id=project, upload="append", engine="ray", batch_size=8,
                                     ray_options={"block_size": 50})
    try:
        _wait_rows(pg_ws, session.job_id, 40, timeout=600)
    finally:  # a failure here must not leave the job running into the next test
        t = time.monotonic()
        session.stop()
    took = time.monotonic() - t
    status = session.status()
    assert status.state is SessionState.STOPPED and took < 5, (status, took)
    assert 0 < status.done < M
    time.sleep(1.5)  # nothing is written after a stop
    assert len(recorded(pg_ws, session.job_id)) == status.done

    resumed = model.predict_detached(project_id=project, upload="append", engine="ray", resume_job=session.job_id)
    final = resumed.wait_done(timeout=600)
    assert final.state is SessionState.COMPLETED and final.done == M
    results = recorded(pg_ws, session.job_id)
    assert Counter(r["image_id"] for r in results).most_common(1)[0][1] == 1 and len(results) == M
    # append adds objects each time an image is uploaded: twice would show as twice the objects
    objects = objects_by_image(pg_ws, project)
    assert sum(map(len, objects.values())) == sum(r["upload"]["added"] for r in results)
    assert all(len(v) == len(set(v)) for v in objects.values())


KILLED_JOB = """
import sys, time
from ray import cloudpickle
import tests.raydata.squares as squares
cloudpickle.register_pickle_by_value(squares)
from sightline.local import LocalModel
from sightline.workspace.store import Workspace
ws = Workspace(sys.argv[1], blobs=sys.argv[2])
session = LocalModel(squares.Squares(), ws).predict_detached(project_id=int(sys.argv[3]), upload="iou_merge", engine="ray",
                                                             batch_size=8, ray_options={"address": sys.argv[4], "block_size": 50})
print(session.job_id, flush=True)
session.wait_done(timeout=600)
"""


def test_a_killed_job_resumes_where_it_stopped(pg_ws, pg_url, ray_cluster):
    project = make_project(pg_ws, "killed", make_images(M, seed=2))
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "SIGHTLINE_RAY_LEASE_S": "2"}
    driver = subprocess.Popen([sys.executable, "-c", KILLED_JOB, pg_url, pg_ws.blobs.location, str(project), ray_cluster],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        sid = driver.stdout.readline().strip()
        assert sid, "the job did not start"
        _wait_rows(pg_ws, sid, 60, timeout=600)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver dies mid-run, its recorders with it
        driver.wait(10)
    with pg_ws.transaction() as s:
        assert s.get(StoredSession, sid).state == "running"  # as a dead driver leaves it
    killed_at = len(recorded(pg_ws, sid))
    assert killed_at < M

    os.environ["SIGHTLINE_RAY_LEASE_S"] = "2"
    try:
        time.sleep(2.5)  # the dead driver's lease lapses
        session = LocalModel(Squares(), pg_ws).predict_detached(project_id=project, upload="iou_merge", engine="ray", resume_job=sid)
        final = session.wait_done(timeout=600)
    finally:
        del os.environ["SIGHTLINE_RAY_LEASE_S"]
    assert final.state is SessionState.COMPLETED and final.done == M
    results = recorded(pg_ws, sid)
    assert len(results) == M and len({r["image_id"] for r in results}) == M
    objects = objects_by_image(pg_ws, project)
    assert sum(map(len, objects.values())) == sum(r["upload"]["added"] for r in results)
    assert all(len(v) == len(set(v)) for v in objects.values())  # no object twice
