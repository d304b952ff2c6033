"""The run's local Ray cluster (tests/scale/cluster.py), and workspaces on PostgreSQL in a database of their own.

The database is ``raydata`` on the server of ``SIGHTLINE_TEST_DATABASE_URL`` (made when missing; its
``public`` schema is dropped before each use), so that these runs do not clash with the other suites' ``test``.
"""

from __future__ import annotations

import sys

import pytest

from sightline.workspace.store import Workspace
from tests.raydata import squares
from tests.workspace.conftest import _reset_postgres, own_database


@pytest.fixture(scope="session")
def pg_url() -> str:
    return own_database("raydata")


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
