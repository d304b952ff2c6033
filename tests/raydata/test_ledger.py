"""A Ray Data job's row in the session tables (no Ray needed): who may resume it, what a stopped job may
still write, and what a starting server leaves alone."""

from __future__ import annotations

import time

import pytest

from sightline.engine.status import SessionState
from sightline.errors import ConflictError
from sightline.raydata.ledger import Ledger, Refused, request_stop
from sightline.server.session_db import SessionDB
from sightline.workspace.store import Workspace


@pytest.fixture()
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def test_a_live_job_cannot_be_taken_a_dead_one_can(ws, monkeypatch):
    monkeypatch.setenv("SIGHTLINE_RAY_LEASE_S", "0.5")
    Ledger(ws.engine, "job1", "driver-a").create("m", {}, 10)
    with pytest.raises(ConflictError, match="holds it"):
        Ledger(ws.engine, "job1", "driver-b").claim()  # its driver renews the lease: it is alive
    time.sleep(0.7)  # the driver died: nobody renews
    assert Ledger(ws.engine, "job1", "driver-b").claim().state == "running"
    with ws.transaction() as s:  # the dead driver's recorders can no longer write
        with pytest.raises(Refused):
            Ledger(ws.engine, "job1", "driver-a").record(s, b"x", False)


def test_after_a_stop_nothing_more_is_recorded_and_the_job_resumes(ws):
    ledger = Ledger(ws.engine, "job2", "driver")
    ledger.create("m", {}, 10)
    with ws.transaction() as s:
        assert [ledger.record(s, b"a", False), ledger.record(s, b"b", True)] == [0, 1]  # positions one after another
    assert request_stop(ws.engine, "job2")  # as a server's stop does it
    with ws.transaction() as s, pytest.raises(Refused):
        ledger.record(s, b"c", False)
    ledger.finish(SessionState.STOPPED)
    assert ledger.counts() == (2, 1)
    again = Ledger(ws.engine, "job2", "driver-2")
    assert again.claim().state == "running"  # a stopped job is resumed at once
    with ws.transaction() as s:
        assert again.record(s, b"c", False) == 2


def test_a_starting_server_leaves_a_running_job_alone(ws, monkeypatch):
    monkeypatch.setenv("SIGHTLINE_RAY_LEASE_S", "60")
    Ledger(ws.engine, "live", "driver").create("m", {}, 10)
    monkeypatch.setenv("SIGHTLINE_RAY_LEASE_S", "0")
    Ledger(ws.engine, "dead", "driver").create("m", {}, 10)
    db = SessionDB(ws.engine)
    try:
        assert db.interrupt_orphans() == ["dead"]
        states = {st.id: st.state for st in db.load()}
        assert states == {"live": SessionState.RUNNING, "dead": SessionState.INTERRUPTED}
    finally:
        db.close()
