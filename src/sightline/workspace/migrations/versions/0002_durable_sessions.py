"""durable server sessions: their definition, state and results

Revision ID: 0002_sessions
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002_sessions'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('server_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=512), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('server_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_server_sessions_state'), ['state'], unique=False)

    op.create_table('server_session_results',
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['server_sessions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'position')
    )


def downgrade() -> None:
    op.drop_table('server_session_results')
    with op.batch_alter_table('server_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_server_sessions_state'))
    op.drop_table('server_sessions')
