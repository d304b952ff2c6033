"""A fresh workspace per test: SQLite always, PostgreSQL too when SIGHTLINE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from sightline.workspace.store import Workspace

PG_URL = os.environ.get("SIGHTLINE_TEST_DATABASE_URL")


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ws(request, tmp_path):
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL: set SIGHTLINE_TEST_DATABASE_URL (.ci/run does) to run the workspace suite against it")
        _reset_postgres(PG_URL)
        workspace = Workspace(PG_URL, blobs=tmp_path / "blobs")
    else:
        workspace = Workspace(tmp_path / "data")
    yield workspace
    workspace.close()
