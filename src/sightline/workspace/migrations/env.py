"""Alembic environment: runs on the connection ``Workspace`` hands over (see ``migrate.py``)."""

from alembic import context

from sightline.workspace.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
