"""Sessions survive the server: a real ``sightline serve`` process killed with SIGKILL (or stopped with
SIGTERM) mid-run, started again on the same state, reads the session as ``interrupted`` with every result it
had streamed, byte for byte, and resumes it to the end: no item twice, none lost, uploads not repeated."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

import sightline
from sightline.client.deploy import _free_port, wait_until_ready
from sightline.models.demo.synthetic import make_sample
from sightline.workspace.store import Workspace

SRC = str(Path(sightline.__file__).resolve().parents[1])
IMAGES = 14
TIMEOUT_S = 240  # a busy 2-core machine
# one client throughout, as a user's processes re-attach: sessions belong to the client that started them
CLIENT = "durable-test-client"
AS_CLIENT = {"X-Sightline-Client": CLIENT}


class Served:
    """``python -m sightline serve`` as a subprocess on a state folder (and maybe a workspace)."""

    def __init__(self, state_dir: Path, workspace: Path | str | None = None, env: dict[str, str] | None = None) -> None:
        self.state_dir, self.workspace, self.env = state_dir, workspace, env or {}
        self.process: subprocess.Popen | None = None

    def start(self) -> Served:
        port = _free_port("127.0.0.1")
        cmd = [sys.executable, "-m", "sightline", "serve", "--model", "demo/shapes", "--device", "cpu", "--port", str(port),
               "--max-batch-size", "2", "--allow-local-paths", "--allow-private-urls", "--expose-tracebacks",
               "--log-level", "warning", "--state-dir", str(self.state_dir)]
        if self.workspace is not None:
            cmd += ["--workspace", str(self.workspace)]
        env = {**os.environ, "PYTHONPATH": SRC, **self.env}
        log = Path(tempfile.mkstemp(prefix="sightline-durable-", suffix=".log")[1])
        with log.open("w") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{port}"
        wait_until_ready(self.url, self.process, log, TIMEOUT_S, "the test server")
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown code runs
        self.process.wait(30)

    def terminate(self) -> float:
        """SIGTERM; returns how long the server took to exit."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        return time.monotonic() - began

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        s.stop()


def _serve(started: list[Served], state: Path, workspace: Path | str | None = None, env: dict[str, str] | None = None) -> Served:
    s = Served(state, workspace, env).start()
    started.append(s)
    return s


def _images(folder: Path, n: int = IMAGES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(make_sample(7, i, max_shapes=3, size=(96, 128)).image).save(folder / f"img_{i:02d}.png")
    return folder


def _wait_done(url: str, sid: str, at_least: int) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        status = httpx.get(f"{url}/v1/sessions/{sid}", headers=AS_CLIENT, timeout=30).json()
        if status["done"] >= at_least or status["state"] not in ("running", "pending"):
            return status
        assert time.monotonic() < deadline, f"no progress: {status}"
        time.sleep(0.05)


def _wait_final(url: str, sid: str) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        status = httpx.get(f"{url}/v1/sessions/{sid}", headers=AS_CLIENT, timeout=30).json()
        if status["state"] not in ("running", "pending", "stopping"):
            return status
        assert time.monotonic() < deadline, f"the session did not end: {status}"
        time.sleep(0.1)


def _raw_results(url: str, sid: str) -> list[str]:
    """Every result the server has, as the JSON text it sends (one string per result)."""
    page = httpx.get(f"{url}/v1/sessions/{sid}/results", params={"limit": 1000}, headers=AS_CLIENT, timeout=30).json()
    return [json.dumps(r) for r in page["results"]]


def _streamed(url: str, sid: str, last_id: int = 0) -> list[str]:
    """The ``data`` of every ``result`` event of the session's event stream from ``Last-Event-ID``."""
    out: list[str] = []
    with httpx.stream("GET", f"{url}/v1/sessions/{sid}/events", headers={**AS_CLIENT, "Last-Event-ID": str(last_id)}, timeout=60) as r:
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "result":
                out.append(line[6:])
            elif line.startswith("data: ") and event == "end":
                break
    return out


def test_a_killed_server_keeps_a_folder_sessions_results_and_the_client_resumes_it(served, tmp_path):
    folder = _images(tmp_path / "images")
    state = tmp_path / "state"
    first = _serve(served, state)
    model = sightline.connect(first.url, client_id=CLIENT)
    session = model.predict_detached(folder)
    _wait_done(first.url, session.id, 4)
    before = _raw_results(first.url, session.id)  # what a client has read so far
    session.close()
    model.close()
    first.kill()

    second = _serve(served, state)
    status = httpx.get(f"{second.url}/v1/sessions/{session.id}", headers=AS_CLIENT, timeout=30).json()
    assert status["state"] == "interrupted" and status["resumable"] is True
    after = _raw_results(second.url, session.id)
    assert len(after) == status["done"] >= len(before)
    assert after[: len(before)] == before  # byte-identical: what was read before the kill is all there
    assert _streamed(second.url, session.id)[: len(before)] == before  # and by SSE from the start
    assert _streamed(second.url, session.id, last_id=2) == after[2:]  # and from a Last-Event-ID

    model = sightline.connect(second.url, client_id=CLIENT)
    again = model.session(session.id)
    assert again.status().state.value == "interrupted" and len(again.results()) == len(after)
    resumed = again.resume(folder)
    resumed.wait_done(TIMEOUT_S)
    results = resumed.results()
    assert resumed.status().state.value == "completed"
    assert [r.index for r in results] == list(range(IMAGES))  # none twice, none lost
    assert [json.dumps(r.to_dict()) for r in results[: len(before)]] == before
    assert sorted(Path(r.source).name for r in results) == sorted(p.name for p in folder.iterdir())
    model.close()


def _own_postgres_database() -> str:
    """A database of these tests' own on the test PostgreSQL server (the shared one is reset by other tests), emptied."""
    from tests.workspace.conftest import own_database

    return own_database("sightline_durable_sessions")


@pytest.fixture(params=["sqlite", "postgresql"])
def workspace_with_images(request, tmp_path: Path) -> tuple[Path | str, int, list[int], dict[str, str]]:
    location: Path | str = tmp_path / "ws"
    env: dict[str, str] = {}
    if request.param == "postgresql":
        location = _own_postgres_database()
        env = {"SIGHTLINE_BLOBS": str(tmp_path / "blobs")}
    ws = Workspace(location, blobs=tmp_path / "blobs") if env else Workspace(location)
    project = ws.create_project("durable")
    dataset = ws.create_dataset(project.id, "d")
    ids = []
    folder = _images(tmp_path / "ws-images")
    for p in sorted(folder.iterdir()):
        ids.append(ws.add_image(dataset.id, p.read_bytes(), name=p.name).id)
    ws.close()
    return location, project.id, ids, env


def test_a_killed_server_resumes_a_workspace_run_and_uploads_each_image_once(served, tmp_path, workspace_with_images):
    location, project_id, image_ids, env = workspace_with_images
    state = tmp_path / "state"
    first = _serve(served, state, location, env)
    created = httpx.post(f"{first.url}/v1/sessions", json={"project_id": project_id, "upload": "iou_merge"}, headers=AS_CLIENT, timeout=60).json()
    sid = created["id"]
    _wait_done(first.url, sid, 4)
    before = _raw_results(first.url, sid)
    first.kill()

    second = _serve(served, state, location, env)
    status = httpx.get(f"{second.url}/v1/sessions/{sid}", headers=AS_CLIENT, timeout=30).json()
    assert status["state"] == "interrupted"
    assert _raw_results(second.url, sid)[: len(before)] == before
    with sightline.connect(second.url, client_id=CLIENT) as model:
        resumed = model.session(sid).resume()
        final = resumed.wait_done(TIMEOUT_S)
        results = resumed.results()
    assert final.state.value == "completed" and final.done == len(image_ids)
    assert [r.image_id for r in results] == image_ids  # each image once, in order
    assert [json.dumps(r.to_dict()) for r in results[: len(before)]] == before
    second.stop()

    ws = Workspace(location, blobs=tmp_path / "blobs") if env else Workspace(location)
    for r in results:  # each image's predicted objects are in the workspace exactly once
        assert len(ws.annotations(r.image_id)) == len(r.detections), r.image_id
    from sightline.workspace.schema import PredictionRun

    assert {r.upload["run_id"] for r in results} == {results[0].upload["run_id"]}  # one run record, continued
    with ws.transaction() as s:
        assert s.get(PredictionRun, results[0].upload["run_id"]).state == "completed"
    ws.close()


def test_a_killed_server_resumes_a_workspace_video(served, tmp_path, sample_video):
    location = tmp_path / "ws"
    ws = Workspace(location)
    dataset = ws.create_dataset(ws.create_project("v").id, "d")
    video_id = ws.add_video(dataset.id, sample_video).id
    ws.close()
    state = tmp_path / "state"
    first = _serve(served, state, location)
    sid = httpx.post(f"{first.url}/v1/sessions", json={"video_id": video_id, "options": {"num_frames": 16}}, headers=AS_CLIENT, timeout=60).json()["id"]
    _wait_done(first.url, sid, 3)
    first.kill()

    second = _serve(served, state, location)
    with sightline.connect(second.url, client_id=CLIENT) as model:
        resumed = model.resume(sid)
        final = resumed.wait_done(TIMEOUT_S)
        frames = [r.frame_idx for r in resumed.results()]
    assert final.state.value == "completed"
    assert len(frames) == final.total == 16 and frames == sorted(set(frames))  # every sampled frame once, in order


def test_sigterm_ends_a_running_session_interrupted_with_its_results_written(served, tmp_path):
    folder = _images(tmp_path / "images", 40)
    state = tmp_path / "state"
    first = _serve(served, state)
    model = sightline.connect(first.url, client_id=CLIENT)
    session = model.predict_detached(folder)
    _wait_done(first.url, session.id, 2)
    took = first.terminate()
    model.close()
    assert took < 20, f"shutdown took {took:.1f} s"  # ≤ 2 s plus a batch on an idle machine; generous here

    second = _serve(served, state)
    status = httpx.get(f"{second.url}/v1/sessions/{session.id}", headers=AS_CLIENT, timeout=30).json()
    assert status["state"] == "interrupted" and status["done"] >= 2
    assert len(_raw_results(second.url, session.id)) == status["done"]


def test_deleting_a_session_removes_it_after_a_restart_too(served, tmp_path):
    folder = _images(tmp_path / "images", 3)
    state = tmp_path / "state"
    first = _serve(served, state)
    with sightline.connect(first.url, client_id=CLIENT) as model:
        session = model.predict_detached(folder)
        session.wait_done(TIMEOUT_S)
        session.delete()
    first.terminate()
    second = _serve(served, state)
    assert httpx.get(f"{second.url}/v1/sessions/{session.id}", headers=AS_CLIENT, timeout=30).status_code == 404
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{state / 'sessions.db'}")
    with engine.connect() as c:
        assert c.execute(text("select count(*) from server_session_results")).scalar() == 0
    engine.dispose()


# --- in-process servers (tests/servers.py): the memory window, refusals, memory-only servers ---------------


def test_a_session_keeps_only_a_window_in_memory_and_reads_older_results_from_the_database(start_server, tmp_path):
    folder = _images(tmp_path / "images", 8)
    live = start_server(session_memory_results=3)
    with sightline.connect(live.url, client_id=CLIENT) as model:
        session = model.predict_detached(folder)
        session.wait_done(TIMEOUT_S)
        held = live.state.sessions.get(session.id, None).runner
        assert len(held.results(0)) <= 3  # the rest left memory once written
        assert [r.index for r in session.results()] == list(range(8))
        again = model.session(session.id)  # a reader that attaches late gets them all, from the database
        assert [r.index for r in again.results()] == list(range(8))
    assert [json.loads(d)["index"] for d in _streamed(live.url, session.id)] == list(range(8))
    assert [json.loads(d)["index"] for d in _raw_results(live.url, session.id)] == list(range(8))


def test_only_an_interrupted_session_can_be_resumed(start_server, tmp_path):
    folder = _images(tmp_path / "images", 2)
    live = start_server()
    with sightline.connect(live.url, client_id=CLIENT) as model:
        session = model.predict_detached(folder)
        session.wait_done(TIMEOUT_S)
        r = httpx.post(f"{live.url}/v1/sessions/{session.id}/resume", headers=AS_CLIENT)
        assert r.status_code == 409 and "only an interrupted session can be resumed" in r.json()["error"]["message"]
        r = httpx.post(f"{live.url}/v1/sessions/nosuch/resume", headers=AS_CLIENT)
        assert r.status_code == 404


def test_the_sdk_asks_for_the_same_input_to_resume_a_client_fed_session(served, tmp_path):
    folder = _images(tmp_path / "images", 10)
    state = tmp_path / "state"
    first = _serve(served, state)
    with sightline.connect(first.url, client_id=CLIENT) as model:
        sid = model.predict_detached(folder).id
        _wait_done(first.url, sid, 2)
    first.kill()
    second = _serve(served, state)
    with sightline.connect(second.url, client_id=CLIENT) as model:
        with pytest.raises(sightline.errors.InputError, match="resume\\(input=...\\) with the same input"):
            model.resume(sid)
        with pytest.raises(sightline.errors.InputError, match="the session was made for 10"):
            model.resume(sid, _images(tmp_path / "other", 3))
    with sightline.connect(second.url, client_id=CLIENT) as model:  # the refusals above changed nothing: the right input resumes it
        resumed = model.resume(sid, folder)
        assert resumed.wait_done(TIMEOUT_S).state.value == "completed"
        assert [r.index for r in resumed.results()] == list(range(10))


def test_a_server_without_persistence_still_runs_sessions(start_server, tmp_path):
    folder = _images(tmp_path / "images", 3)
    live = start_server(persist_sessions=False)
    assert live.state.sessions.db is None
    with sightline.connect(live.url, client_id=CLIENT) as model:
        session = model.predict_detached(folder)
        assert session.wait_done(TIMEOUT_S).state.value == "completed" and len(session.results()) == 3


def test_a_supervisely_client_pops_its_results_after_a_restart(served, tmp_path):
    """The Supervisely ``pop_inference_results`` of a session read back from the database gives the results it had
    not popped (a 500 before: a session read back has no runner with a model)."""
    state = tmp_path / "state"
    first = _serve(served, state)
    images = sorted(_images(tmp_path / "in", 3).iterdir())
    files = [("files", (p.name, p.read_bytes())) for p in images]
    answer = httpx.post(f"{first.url}/supervisely/inference_batch_async", files=files, data={"state": "{}"}, timeout=60).json()
    uuid = answer["inference_request_uuid"]
    assert _wait_final(first.url, uuid)["state"] == "completed"
    first.terminate()
    again = _serve(served, state)
    popped = httpx.post(f"{again.url}/supervisely/pop_inference_results", json={"state": {"inference_request_uuid": uuid}}, timeout=60)
    assert popped.status_code == 200, popped.text
    assert [r["name"] for r in popped.json()["pending_results"]] == [p.name for p in images]
    assert popped.json()["finished"] is True


def test_a_resumed_video_continues_its_tracks(served, tmp_path, sample_video):
    """Tracking over a workspace video killed mid-run: after the resume every frame's track ids are those of a
    run never interrupted (the tracker goes on from where it was, not from scratch), and the annotated video
    covers every frame, those finished before the kill included."""
    location = tmp_path / "ws"
    ws = Workspace(location)
    video_id = ws.add_video(ws.create_dataset(ws.create_project("v").id, "d").id, sample_video).id
    ws.close()
    body = {"video_id": video_id, "options": {"num_frames": 24}, "tracking": True, "annotated_video": True}
    state = tmp_path / "state"
    first = _serve(served, state, location)
    sid = httpx.post(f"{first.url}/v1/sessions", json=body, timeout=60).json()["id"]
    assert _wait_done(first.url, sid, 8)["done"] < 24
    first.kill()

    second = _serve(served, state, location)
    with sightline.connect(second.url) as model:
        resumed = model.resume(sid)
        assert resumed.wait_done(TIMEOUT_S).state.value == "completed"
        got = [(r.frame_idx, r.track_ids.tolist()) for r in resumed.results()]
        whole = model.predict(video_id=video_id, num_frames=24, tracking=True)
    assert [f for f, _ in got] == [p.frame_idx for p in whole]
    assert got == [(p.frame_idx, p.track_ids.tolist()) for p in whole]
    video = httpx.get(f"{second.url}/v1/sessions/{sid}/video", timeout=60)
    assert video.status_code == 200
    with av.open(io.BytesIO(video.content)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 24


# The database refuses the session store's writes from cursor position 4 on, and the session's final state:
# the workspace uploads go on (other tables), so at the kill the workspace holds uploads whose results are
# not in the session store, the window a kill -9 can hit between the two commits.
SQLITE_FAULTS = [
    "CREATE TRIGGER fault_results BEFORE INSERT ON server_session_results WHEN NEW.position >= 4 "
    "BEGIN SELECT RAISE(ABORT, 'fault injected by the test'); END",
    "CREATE TRIGGER fault_final BEFORE UPDATE OF state ON server_sessions WHEN NEW.state <> 'running' "
    "BEGIN SELECT RAISE(ABORT, 'fault injected by the test'); END",
]
POSTGRES_FAULTS = [
    "CREATE FUNCTION fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'fault injected by the test'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER fault_results BEFORE INSERT ON server_session_results FOR EACH ROW WHEN (NEW.position >= 4) EXECUTE FUNCTION fault()",
    "CREATE TRIGGER fault_final BEFORE UPDATE OF state ON server_sessions FOR EACH ROW WHEN (NEW.state <> 'running') EXECUTE FUNCTION fault()",
]


def _sql(ws: Workspace, statements: list[str]) -> None:
    from sqlalchemy import text

    with ws.engine.begin() as c:
        for statement in statements:
            c.execute(text(statement))


@pytest.mark.parametrize("mode", ["create", "append"])
def test_uploads_not_yet_in_the_session_store_at_a_kill_are_not_repeated_on_resume(served, tmp_path, workspace_with_images, mode):
    location, project_id, image_ids, env = workspace_with_images
    ws = Workspace(location, blobs=tmp_path / "blobs") if env else Workspace(location)
    postgres = ws.engine.dialect.name == "postgresql"
    _sql(ws, POSTGRES_FAULTS if postgres else SQLITE_FAULTS)
    state = tmp_path / "state"
    first = _serve(served, state, location, env)
    sid = httpx.post(f"{first.url}/v1/sessions", json={"project_id": project_id, "upload": mode}, timeout=60).json()["id"]
    assert _wait_final(first.url, sid)["done"] == len(image_ids)  # every image uploaded; the store holds only the first results
    first.kill()
    _sql(ws, ["DROP TRIGGER fault_results ON server_session_results", "DROP TRIGGER fault_final ON server_sessions", "DROP FUNCTION fault()"]
         if postgres else ["DROP TRIGGER fault_results", "DROP TRIGGER fault_final"])

    second = _serve(served, state, location, env)
    status = httpx.get(f"{second.url}/v1/sessions/{sid}", timeout=30).json()
    assert status["state"] == "interrupted" and 4 <= status["done"] < len(image_ids)
    with sightline.connect(second.url) as model:
        resumed = model.session(sid).resume()
        assert resumed.wait_done(TIMEOUT_S).state.value == "completed"
        results = resumed.results()
    second.stop()
    assert [r.index for r in results] == list(range(len(image_ids)))
    assert all(r.upload["error"] is None for r in results)
    if mode == "create":  # one copy of each image, each with its objects once, and the results name those copies
        copies = ws.images(project_id=results[0].project_id)
        assert len(copies) == len(image_ids)
        assert sorted(r.image_id for r in results) == sorted(c.id for c in copies)
    else:
        assert [r.image_id for r in results] == image_ids
    for r in results:
        assert len(ws.annotations(r.image_id)) == len(r.detections), r.index
    from sightline.workspace.schema import PredictionRun

    with ws.transaction() as s:
        run = s.get(PredictionRun, results[0].upload["run_id"])
        assert run.state == "completed" and run.counts["images"] == len(image_ids)
        assert run.counts["added"] == sum(len(r.detections) for r in results)
    ws.close()
