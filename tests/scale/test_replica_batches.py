"""How a model replica batches the calls of several callers (``ray_serve.ModelReplica``, ``@serve.batch``): a
batch is one forward pass of at most ``max_batch_size`` images, so a caller is answered when its own pass ends."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sightline.settings import PredictSettings
from tests.scale.cluster import RAY_TIMEOUT_S
from tests.scale.models import PASS_S

pytestmark = pytest.mark.timeout(RAY_TIMEOUT_S)

BATCH = 4


@pytest.fixture(scope="module")
def replica(ray_cluster):  # type: ignore[no-untyped-def]
    from ray import serve

    from sightline.server.ray_serve import ModelReplica
    from tests.scale.models import fixed_time

    app = serve.deployment(ModelReplica).options(name="fixed-passes", num_replicas=1, ray_actor_options={"num_cpus": 0.5},
                                                 max_ongoing_requests=16).bind("fixed", "cpu", BATCH, 0.3, fixed_time)
    handle = serve.run(app, name="fixed-passes", route_prefix=None)
    try:
        yield handle
    finally:
        serve.delete("fixed-passes")


def _answered_after(handle, sizes: list[int]) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds from sending these calls at once to each one's answer (and each answer has one result per image)."""
    start = time.monotonic()

    def call(n: int) -> float:
        results = handle.predict.remote([np.zeros((8, 8, 3), np.uint8)] * n, PredictSettings()).result(timeout_s=120)
        assert len(results) == n
        return time.monotonic() - start

    with ThreadPoolExecutor(len(sizes)) as pool:  # threads: Serve refuses sync calls on a thread running an event loop
        return list(pool.map(call, sizes))


def test_a_caller_is_answered_when_its_own_pass_ends(replica):  # type: ignore[no-untyped-def]
    _answered_after(replica, [1])  # the replica is up
    first, second = sorted(_answered_after(replica, [BATCH, BATCH]))
    # two full passes: before, Serve gathered both calls into one batch and answered both after the second pass
    assert second - first > 0.6 * PASS_S, (first, second)


def test_small_calls_share_a_pass_and_a_call_larger_than_a_pass_is_run_in_passes(replica):  # type: ignore[no-untyped-def]
    small = _answered_after(replica, [1, 1, 1, 1])
    # sent together, gathered within the replica's batch wait (0.3 s) into one pass: answered together
    assert max(small) - min(small) < 0.5 * PASS_S, small
    (large,) = _answered_after(replica, [3 * BATCH])  # more than Serve's batch: run alone, in three passes
    assert large > 2.5 * PASS_S, large
