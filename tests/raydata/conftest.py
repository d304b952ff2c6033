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


@pytest.fixture(scope="session")
def ray_cluster(ray_cluster):  # noqa: F811  (the run's one cluster, tests/scale/cluster.py)
    """The run's local cluster, with the test model sent to its actors by value."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(squares)
    return ray_cluster


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
