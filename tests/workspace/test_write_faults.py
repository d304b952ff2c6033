"""Database and file faults during uploads: each image is all-or-nothing, the run goes on, the run
record ends final. PostgreSQL backends killed mid-run, a SQLite writer holding the lock, a file that
vanishes or turns to garbage between prediction and upload, a model name too long for its column."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from typing import Self

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, select, text

import sightline
from sightline.workspace.run_upload import RunUploader, upload_predictions
from sightline.workspace.schema import PredictionRun
from sightline.workspace.store import Workspace
from sightline.workspace.uploads import UploadMode
from tests.workspace.conftest import PG_URL, _reset_postgres, postgres_unavailable

N_IMAGES = 40
FINAL = {"completed", "stopped", "failed", "interrupted"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, samples):
    """40 small images with shapes on them (small, so the model is quick on a loaded machine)."""
    out = tmp_path_factory.mktemp("forty")
    for i in range(N_IMAGES):
        img = samples[i % len(samples)].image[::3, ::3]
        Image.fromarray(np.ascontiguousarray(np.roll(img, i, axis=1))).save(out / f"im_{i:02d}.png")
    return out


def runs(ws):
    with ws.transaction() as s:
        return [(r.id, r.state, dict(r.counts or {})) for r in s.scalars(select(PredictionRun).order_by(PredictionRun.id))]


def assert_all_or_nothing(ws, preds, project_id):
    """Every stored image has exactly its prediction's objects; every failed upload left nothing."""
    stored = {i.id: i for i in ws.images(project_id=project_id)}
    uploaded = [p for p in preds if p.upload and not p.upload.get("error")]
    failed = [p for p in preds if p.upload and p.upload.get("error")]
    assert len(uploaded) + len(failed) == len(preds)
    assert {p.image_id for p in uploaded} == set(stored), "an image is stored that no upload reported, or the reverse"
    for p in uploaded:
        assert stored[p.image_id].annotations == len(p) == p.upload["added"]
    for p in failed:
        assert p.image_id is None and p.upload["error"]
    return uploaded, failed


class Killer:
    """Terminates this test's own PostgreSQL backends (by application_name) every 30 ms.

    Started and stopped by the test that owns it (``with Killer(...)``); the thread ends on ``stop``.
    """

    def __init__(self, app_name: str, every_s: float = 0.03) -> None:
        self.app_name, self.every_s = app_name, every_s
        self.killed = 0
        self._stop = threading.Event()
        self._engine = create_engine(PG_URL, connect_args={"application_name": "sightline-test-killer"})
        self._thread = threading.Thread(target=self._run, name="pg-killer", daemon=True)

    def _run(self) -> None:
        q = text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND pid <> pg_backend_pid() AND application_name = :name")
        with self._engine.connect() as c:
            while not self._stop.wait(self.every_s):
                self.killed += c.execute(q, {"name": self.app_name}).scalar() or 0
                c.commit()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._engine.dispose()


@pytest.fixture()
def pg_ws(tmp_path):
    reason = postgres_unavailable(PG_URL)
    if reason:
        pytest.skip(reason)
    _reset_postgres(PG_URL)
    app_name = f"sightline-test-{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    workspace = Workspace(f"{PG_URL}{sep}application_name={app_name}", blobs=tmp_path / "blobs")
    workspace.app_name = app_name
    yield workspace
    workspace.close()


@pytest.mark.parametrize("mode", ["create", "iou_merge"])
def test_postgres_backends_killed_every_30ms(pg_ws, folder, mode):
    model = sightline.load("demo/shapes", device="cpu", workspace=pg_ws)
    if mode == "create":
        session = model.predict_detached(input=folder, upload="create", upload_project="under fire")
        with Killer(pg_ws.app_name) as killer:  # mid-run: the session and its run record exist
            preds = list(session)
        project = pg_ws.project("under fire")
        _, failed = assert_all_or_nothing(pg_ws, preds, project.id)
    else:
        first = model.predict(input=folder, upload="create", upload_project="base")
        project = pg_ws.project("base")
        before = {p.image_id: len(p) for p in first}
        session = model.predict_detached(project_id=project.id, upload="iou_merge", iou_merge_threshold=1)
        with Killer(pg_ws.app_name) as killer:
            preds = list(session)
        failed = [p for p in preds if p.upload.get("error")]
        for p in preds:  # a failed image is exactly as it was; a merged one has what the upload reports
            added = 0 if p.upload.get("error") else p.upload["added"]
            assert pg_ws.image(p.image_id).annotations == before[p.image_id] + added
            if not p.upload.get("error"):
                assert p.upload["added"] + p.upload["skipped_duplicates"] == len(p)
    assert session.status().state.value == "completed"
    assert killer.killed > 0, "the killer never hit a connection: the test proved nothing"
    assert len(preds) == N_IMAGES and all(p.error is None for p in preds)
    # with every connection killed within ~30 ms some images run out of tries: each says why; retries carry others through
    assert len(failed) < N_IMAGES and all(p.upload["error"].startswith("database error: ") for p in failed)
    print(f"{mode}: {killer.killed} backends killed, {len(failed)} of {N_IMAGES} images failed after retries")
    assert all(state in FINAL for _, state, _ in runs(pg_ws))
    assert runs(pg_ws)[-1][1] == "completed" and runs(pg_ws)[-1][2]["failed_images"] == len(failed)


def test_sqlite_writer_holding_the_lock(tmp_path, folder):
    ws = Workspace(tmp_path / "data")
    db = tmp_path / "data" / "sightline.db"
    stop = threading.Event()
    held = []

    def hold() -> None:  # three holds of 2 s with short gaps, or fewer when the test sets ``stop``
        con = sqlite3.connect(db, timeout=30, isolation_level=None)
        con.execute("CREATE TABLE IF NOT EXISTS holder (x INTEGER)")
        for _ in range(3):
            if stop.is_set():
                break
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO holder VALUES (1)")  # a real write: readers' snapshots go stale
            held.append(1)
            stop.wait(2.0)
            con.execute("COMMIT")
            stop.wait(0.3)
        con.close()

    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        preds = model.predict(input=folder, upload="create", upload_project="locked")
    finally:
        stop.set()
        holder.join(timeout=10)
    assert held
    _, failed = assert_all_or_nothing(ws, preds, ws.project("locked").id)
    assert failed == [], [p.upload["error"] for p in failed]  # a held lock only delays the writes
    assert [state for _, state, _ in runs(ws)] == ["completed"]
    ws.close()


def test_file_vanishes_or_turns_to_garbage_after_prediction(ws, folder, tmp_path, monkeypatch):
    """The run goes on; those two images fail with a reason, store nothing, and count as failed."""
    local = tmp_path / "copy"
    local.mkdir()
    for p in sorted(folder.iterdir())[:8]:
        (local / p.name).write_bytes(p.read_bytes())
    original = RunUploader.__call__

    def meddle(self, pred, item):  # between prediction and upload, like another process would
        if pred.source.endswith("im_02.png"):
            (local / "im_02.png").unlink()
        if pred.source.endswith("im_05.png"):
            (local / "im_05.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        return original(self, pred, item)

    monkeypatch.setattr(RunUploader, "__call__", meddle)
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    session = model.predict_detached(input=local, upload="create", upload_project="meddled")
    preds = list(session)
    assert session.status().state.value == "completed" and len(preds) == 8
    _, failed = assert_all_or_nothing(ws, preds, ws.project("meddled").id)
    assert sorted(p.source.rsplit("/", 1)[-1] for p in failed) == ["im_02.png", "im_05.png"]
    reasons = {p.source.rsplit("/", 1)[-1]: p.upload["error"] for p in failed}
    assert "No such file" in reasons["im_02.png"] and "im_02.png" in reasons["im_02.png"]
    assert "image" in reasons["im_05.png"].lower()
    (_, state, counts), = runs(ws)
    assert state == "completed" and counts["failed_images"] == 2 and counts["images"] == 8


def test_reviewed_predictions_without_bytes_write_nothing(ws, folder):
    model = sightline.load("demo/shapes", device="cpu")
    preds = model.predict(input=[folder / "im_00.png", folder / "im_01.png"])
    with pytest.raises(sightline.InputError, match="prediction 1 .* no image bytes"):
        upload_predictions(ws, preds, UploadMode.CREATE, images=[(folder / "im_00.png").read_bytes(), None])
    assert ws.projects() == [] and runs(ws) == []


@pytest.mark.parametrize("raised, state", [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")])
def test_run_record_is_final_when_an_upload_breaks_off(ws, folder, monkeypatch, raised, state):
    model = sightline.load("demo/shapes", device="cpu")
    preds = model.predict(input=[folder / "im_00.png", folder / "im_01.png"])
    calls = []

    def breaks_on_the_second(self, pred, item):
        calls.append(pred)
        if len(calls) == 2:
            raise raised

    monkeypatch.setattr(RunUploader, "__call__", breaks_on_the_second)
    with pytest.raises(type(raised)):
        upload_predictions(ws, preds, UploadMode.CREATE, images=[(folder / f"im_0{i}.png").read_bytes() for i in range(2)])
    assert [s for _, s, _ in runs(ws)] == [state]


def test_run_record_is_final_when_a_session_is_stopped(ws, folder):
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    session = model.predict_detached(input=folder, upload="create", upload_project="stopped early", batch_size=1)
    next(iter(session))
    session.stop()
    session.wait_done()
    assert [state for _, state, _ in runs(ws)] in (["stopped"], ["completed"])


def test_a_model_name_too_long_leaves_no_empty_project(ws, folder):
    model = sightline.load("demo/shapes", device="cpu")
    preds = model.predict(input=[folder / "im_00.png"])
    name = "m" * 600
    try:
        totals, project_id = upload_predictions(ws, preds, UploadMode.CREATE, model_name=name, images=[(folder / "im_00.png").read_bytes()])
    except sightline.InvalidSettingError as exc:
        assert "model" in str(exc) and "too long" in str(exc)
        assert ws.projects() == [] and runs(ws) == []
    else:  # accepted: then the project holds the image and its objects
        assert ws.project(project_id).images == 1 and totals.failed_images == 0
        assert [state for _, state, _ in runs(ws)] == ["completed"]


def test_a_session_refused_after_its_uploader_was_made_leaves_no_running_run(ws, folder):
    """Over HTTP: the server's session limit refuses the session (429) after the run record was made."""
    from sightline.models.zoo import load_model
    from sightline.server import ServerConfig, create_app
    from tests.servers import LiveServer

    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None, max_sessions=1), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    try:
        assert httpx.post(f"{live.url}/v1/sessions", json={"total": 5}).status_code == 201  # waits for uploads: the one slot
        r = httpx.post(f"{live.url}/v1/sessions", json={"total": 5, "upload": "create", "upload_project": "never ran"})
        assert r.status_code == 429 and "limit is 1" in r.text
    finally:
        live.stop()
    assert [(state, counts.get("error", "")[:27]) for _, state, counts in runs(ws)] == [("failed", "the session was not started")]
    assert [p.name for p in ws.projects()] == []


def test_the_run_record_ends_when_an_earlier_finishing_step_raises():
    """A video step that fails to close its file must not leave the upload's run record running."""
    from sightline.engine.session import chain_finish
    from sightline.engine.status import SessionState, SessionStatus

    ended = []

    class Breaks:
        def finish(self, status):
            raise OSError("disk gone")

    class Records:
        def finish(self, status):
            ended.append(status.state.value)

    with pytest.raises(OSError, match="disk gone"):
        chain_finish([Breaks(), Records()])(SessionStatus(SessionState.COMPLETED, 1, 1, 0, 0.0, 0.0, None))
    assert ended == ["completed"]


def test_a_600_character_model_over_http_is_422_and_leaves_no_project(ws, folder):
    from sightline.models.zoo import load_model
    from sightline.server import ServerConfig, create_app
    from tests.servers import LiveServer

    model = sightline.load("demo/shapes", device="cpu")
    (pred,) = model.predict(input=[folder / "im_00.png"])
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None), model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    try:
        body = {"mode": "create", "model": "m" * 600, "project": "long model", "predictions": [pred.to_dict()]}
        files = [("files", ("im_00.png", (folder / "im_00.png").read_bytes(), "image/png"))]
        r = httpx.post(f"{live.url}/v1/uploads", data={"request": json.dumps(body)}, files=files)
        assert r.status_code == 422 and "model is too long" in r.text
    finally:
        live.stop()
    assert ws.projects() == [] and runs(ws) == []
