"""Faults on Ray Serve (2 HTTP and 2 model replicas, sessions on PostgreSQL): a replica killed with SIGKILL in
the middle of a session loses no item, and repeats none."""

from __future__ import annotations

import time

import pytest

import sightline
from tests.scale.cluster import LEASE_S, RAY_TIMEOUT_S, kill

pytestmark = pytest.mark.timeout(RAY_TIMEOUT_S)

IMAGES = 40


def _indexes(preds: list[sightline.Prediction]) -> list[int]:
    return [p.index for p in preds]


def test_killing_a_model_replica_mid_session_loses_no_item(ray_app, samples):
    with sightline.connect(ray_app.url) as model:
        session = model.predict_detached(input=([s.image for s in samples] * 7)[:IMAGES], batch_size=2)
        first = session.next(timeout=120)
        kill(ray_app.model_replica_pid())  # its images in flight are sent again, to the other replica
        rest = list(session)
        status = session.status()
    preds = [first] + rest
    assert _indexes(preds) == list(range(IMAGES))  # every item once, in order
    assert status.state is sightline.SessionState.COMPLETED and status.failed == 0
    assert all(p.ok and len(p) > 0 for p in preds)


def test_killing_the_http_replica_running_a_session_lets_another_finish_it(ray_app, samples):
    with sightline.connect(ray_app.url) as model:
        session = model.predict_detached(input=([s.image for s in samples] * 10)[:IMAGES * 1], batch_size=2)
        deadline = time.monotonic() + 120
        while session._uploader.sent < IMAGES:  # every item is queued in the database before the kill
            assert time.monotonic() < deadline, "uploads did not finish"
            time.sleep(0.05)
        owner = ray_app.owner_pid(session.id)
        assert owner is not None
        done_before = session.status().done
        assert done_before < IMAGES, "the session ended before the kill: make it longer"
        kill(owner)
        killed_at = time.monotonic()
        preds = list(session)  # the event stream reconnects (Last-Event-ID) to the other replica
        status = session.status()
        took = time.monotonic() - killed_at
    assert _indexes(preds) == list(range(IMAGES))  # none lost, none twice
    assert status.state is sightline.SessionState.COMPLETED and (status.done, status.failed) == (IMAGES, 0)
    new_owner = ray_app.owner_pid(session.id)
    assert new_owner is None  # final: released by the replica that finished it
    assert took > LEASE_S * 0.5  # it waited for the lease to lapse, then another replica ran it on
