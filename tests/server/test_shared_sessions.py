"""Sessions shared by several server processes on one database: leases, takeover, fenced writes, queued items.
(Several ``SessionDB``s on one SQLite file stand for the processes; the whole path on Ray Serve is in tests/scale.)"""

from __future__ import annotations

import time

import pytest

from sightline.engine.status import SessionState, SessionStatus
from sightline.errors import ConflictError
from sightline.prediction import Prediction
from sightline.server.session_db import SessionDB
from sightline.server.shared_sessions import SharedRun, SharedUploads
from sightline.server.uploads import Upload
from sightline.settings import InputOptions


@pytest.fixture()
def dbs(tmp_path):
    made = [SessionDB.open_file(tmp_path / "sessions.db", shared=True, lease_s=2.0) for _ in range(3)]
    yield made
    for db in made:
        db.close()


def _pred(i: int) -> Prediction:
    return Prediction.failed("x", source=f"item {i}", index=i)


def test_a_lapsed_lease_is_taken_over_by_exactly_one_process_and_the_old_owner_is_fenced(dbs):
    a, b, c = dbs
    a.insert("s1", "demo/shapes", "client", {}, total=4)
    assert b.take_lapsed() == [] and c.take_lapsed() == []  # the lease is live
    a.renew(["s1"])
    time.sleep(2.1)  # a stops renewing (it died, or lost the database)
    won = [b.take_lapsed(), c.take_lapsed()]
    assert sorted(map(len, won)) == [0, 1]  # one winner
    lost = []
    a.lost = lost.append
    a.append("s1", 0, [_pred(0), _pred(1)])  # the old owner's batch, written late
    a.set_state("s1", SessionStatus(SessionState.COMPLETED, 2, 4, 0, 0, 0, None, None, None, {}))
    assert a.flush(10)
    assert lost == ["s1", "s1"]
    row, done, _ = b.live("s1")
    assert done == 0 and row.state == "running" and row.owner in (b.owner, c.owner)  # nothing it wrote counts


def test_items_are_counted_against_total_once_across_processes_and_refused_after_close(dbs):
    a, b, _ = dbs
    a.insert("s2", "demo/shapes", "client", {}, total=3)
    a.add_item("s2", "url", {}, 1, url="http://x/1")
    b.add_item("s2", "url", {}, 2, url="http://x/2")
    with pytest.raises(ConflictError, match="created for 3 items; these uploads would make 4"):
        b.add_item("s2", "url", {}, 1, url="http://x/3")
    b.close_input("s2")
    with pytest.raises(ConflictError, match="input is closed"):
        a.add_item("s2", "url", {}, 0)
    assert [(i.first, i.count, i.url) for i in a.items("s2", 0)] == [(0, 1, "http://x/1"), (1, 2, "http://x/2")]
    assert [i.first for i in a.items("s2", 1)] == [1]  # from a cursor position: the upload that holds it on


def test_the_running_process_reads_queued_items_from_its_cursor_and_ends_when_the_input_closes(dbs):
    a, b, _ = dbs
    a.insert("s3", "demo/shapes", "client", {}, total=3)
    fetched = []
    uploads = SharedUploads(a, "s3", InputOptions(), lambda url: fetched.append(url), 1000, start=1)  # a takeover at done=1
    for k in range(3):
        SharedUploads(b, "s3", InputOptions(), lambda url: None, 1000).add(Upload("url", {}, url=f"http://x/{k}"), 1)
    b.close_input("s3")
    items = list(uploads.as_plan("3 items", 2))
    assert [it.meta["image_url"] for it in items] == ["http://x/1", "http://x/2"]


def test_an_item_added_through_the_running_process_is_read_at_once_not_at_the_next_poll(dbs, monkeypatch):
    """The running process's reader used to sleep a poll period (0.1 s) whenever it had read every queued
    item, also for an item its own process had just queued: a session's start and every gap in a client's
    uploads cost up to that long. Items queued through another process are still found by the poll."""
    import threading

    from sightline.server import shared_sessions

    monkeypatch.setattr(shared_sessions, "POLL_ITEMS_S", 30.0)  # a poll that never comes within the test
    a = dbs[0]
    a.insert("s9", "demo/shapes", "client", {}, total=2)
    uploads = SharedUploads(a, "s9", InputOptions(), lambda url: url, 1000)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.extend(it.meta["image_url"] for it in uploads.as_plan("2 items", 2)), daemon=True)
    reader.start()
    time.sleep(0.3)  # the reader has found nothing and waits
    uploads.add(Upload("url", {}, url="http://x/0"), 1)
    deadline = time.monotonic() + 5
    while not read and time.monotonic() < deadline:
        time.sleep(0.01)
    assert read == ["http://x/0"], "the item queued in this process waited for the poll"
    uploads.close()  # the client sent one of the two items it promised, then closed the input
    reader.join(5)
    assert not reader.is_alive(), "the reader did not see the close until the next poll"


def test_a_process_that_does_not_run_a_session_reads_it_and_asks_its_owner_to_stop(dbs):
    a, b, _ = dbs
    a.insert("s4", "demo/shapes", "client", {"context": {"input": "2 items"}}, total=2)
    stops = []
    a.stop_requested = stops.append
    a.append("s4", 0, [_pred(0)])
    assert a.flush(10)
    view = SharedRun(b, "s4", "demo/shapes")
    st = view.status()
    assert (st.state, st.done, st.total, st.failed) == (SessionState.RUNNING, 1, 2, 1)
    assert view.wait(0, 0) and not view.wait(1, 0.05)
    assert b.results("s4", 0, None)[0]["source"] == "item 0"
    view.stop()
    assert view.status().state is SessionState.STOPPING
    a.append("s4", 1, [_pred(1)])  # the owner's next write sees the request
    assert a.flush(10) and stops == ["s4"]


def test_a_finished_session_deleted_through_one_server_is_gone_on_the_server_that_ran_it(start_server, tmp_path, sample_dir):
    """Two servers on one session database, as Ray Serve's HTTP replicas: a DELETE may land on either, and
    so may the next GET (HAProxy alternates between replicas)."""
    import httpx

    shared = {"state_dir": str(tmp_path / "state"), "shared_sessions": True}
    runs, other = start_server(**shared), start_server(**shared)
    sid = httpx.post(f"{runs.url}/v1/sessions", json={"total": 2}).json()["id"]
    files = [("files", (f"{i}.png", (sample_dir / f"img_{i:02d}.png").read_bytes(), "image/png")) for i in range(2)]
    assert httpx.post(f"{runs.url}/v1/sessions/{sid}/items", files=files, data={"close": "true"}, timeout=30).status_code < 300
    deadline = time.monotonic() + 30
    while httpx.get(f"{runs.url}/v1/sessions/{sid}").json()["state"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert httpx.delete(f"{other.url}/v1/sessions/{sid}").status_code == 204
    for server in (runs, other):
        assert httpx.get(f"{server.url}/v1/sessions/{sid}").status_code == 404
        assert httpx.get(f"{server.url}/v1/sessions/{sid}/results").status_code == 404
