"""A local Ray cluster (2 CPUs) for the module, and workspaces on PostgreSQL in a database of their own.

The database is ``raydata`` on the server of ``SIGHTLINE_TEST_DATABASE_URL`` (made when missing; its
``public`` schema is dropped before each use), so that these runs do not clash with the other suites' ``test``.
"""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import create_engine, make_url, text

from sightline.workspace.store import Workspace
from tests.raydata import squares
from tests.workspace.conftest import PG_URL, _reset_postgres, postgres_unavailable


def raydata_url() -> str:
    return make_url(PG_URL).set(database="raydata").render_as_string(hide_password=False) if PG_URL else ""


@pytest.fixture(scope="session")
def pg_url() -> str:
    reason = postgres_unavailable(PG_URL)
    if reason:
        pytest.skip(reason)
    url = raydata_url()
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if c.scalar(text("SELECT 1 FROM pg_database WHERE datname = 'raydata'")) is None:
            c.execute(text("CREATE DATABASE raydata"))
    admin.dispose()
    return url


@pytest.fixture(scope="module")
def ray_cluster():
    """A local cluster of 2 CPUs for the module, ended after it."""
    import ray
    from ray import cloudpickle

    from sightline.raydata.job import RayOptions, ensure_ray

    cloudpickle.register_pickle_by_value(squares)  # the actors receive the test model by value
    for attempt in range(3):  # Ray gives its processes 30 s to start: not always enough on a loaded 2-core machine
        try:
            ensure_ray(RayOptions(num_cpus=2))
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def pg_ws(pg_url, tmp_path_factory):
    _reset_postgres(pg_url)
    ws = Workspace(pg_url, blobs=tmp_path_factory.mktemp("blobs"))
    yield ws
    ws.close()


def make_project(ws: Workspace, name: str, images: list[bytes]) -> int:
    """A project of ``images`` (``img00000.png``...) in one dataset, written in one transaction."""
    from sightline.inputs.images import decode_image_bytes

    project = ws.create_project(name)
    dataset = ws.create_dataset(project.id, "images")
    with ws.transaction() as s:
        for k, data in enumerate(images):
            h, w = decode_image_bytes(data).shape[:2]
            ws.new_image_row(s, dataset.id, f"img{k:05d}.png", w, h, ws.blobs.put(data), len(data))
    return project.id


sys.modules.setdefault("tests.raydata.squares", squares)
