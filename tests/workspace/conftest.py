"""A fresh workspace per test: SQLite always, PostgreSQL too when a server answers.

The PostgreSQL server is ``SIGHTLINE_TEST_DATABASE_URL``, by default the local one every development
machine runs; its ``public`` schema is dropped before each test. Set the variable empty to leave
PostgreSQL out. When no server answers within a few seconds, those tests skip and say so.
"""

from __future__ import annotations

import functools
import os

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from sightline.workspace.store import Workspace

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("SIGHTLINE_TEST_DATABASE_URL", DEFAULT_PG_URL)
CONNECT_TIMEOUT_S = 3


@functools.cache
def postgres_unavailable(url: str) -> str | None:
    """Why the PostgreSQL tests cannot run (no URL, no answer), or None when a server answers."""
    if not url:
        return "PostgreSQL left out: SIGHTLINE_TEST_DATABASE_URL is empty"
    where = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect():
            return None
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else type(e).__name__
        return f"PostgreSQL at {where} did not answer ({reason}); set SIGHTLINE_TEST_DATABASE_URL to a server to run these"
    finally:
        engine.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def own_database(name: str) -> str:
    """The URL of database ``name`` on the test PostgreSQL server, made when missing and emptied: for suites
    whose runs must not meet the others' (which reset the shared one). Skips when no server answers."""
    reason = postgres_unavailable(PG_URL)
    if reason:
        pytest.skip(reason)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if c.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    _reset_postgres(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def ws(request, tmp_path):
    if request.param == "postgresql":
        reason = postgres_unavailable(PG_URL)
        if reason:
            pytest.skip(reason)
        _reset_postgres(PG_URL)
        workspace = Workspace(PG_URL, blobs=tmp_path / "blobs")
    else:
        workspace = Workspace(tmp_path / "data")
    yield workspace
    workspace.close()
