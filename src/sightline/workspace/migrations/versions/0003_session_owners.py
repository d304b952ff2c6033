"""who owns a server session: the digest of its API key or client token

Revision ID: 0003_session_owners
Revises: 0002_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = '0003_session_owners'
down_revision = '0002_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('server_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owned_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('server_sessions', schema=None) as batch_op:
        batch_op.drop_column('owned_by')
