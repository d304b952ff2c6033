"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sightline.workspace.schema import Base


def test_migrations_match_the_declared_schema(ws):
    with ws.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_reopening_a_workspace_keeps_its_data(ws, tmp_path):
    project = ws.create_project("kept")
    ws.create_dataset(project.id, "d")
    again = type(ws)(ws.url, blobs=ws.blobs.root)  # migrations run again on open: a no-op
    assert again.project("kept").datasets == 1
    again.close()


def test_sqlite_runs_in_wal_mode(tmp_path):
    from sqlalchemy import text

    from sightline.workspace.store import Workspace

    ws = Workspace(tmp_path / "w")
    with ws.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "w" / "sightline.db").exists()
    ws.close()
