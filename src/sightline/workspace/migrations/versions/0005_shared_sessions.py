"""shared sessions: items queued in the database, input state and stop requests readable by every process

Revision ID: 0005_shared_sessions
Revises: 0004_run_uploads
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_shared_sessions'
down_revision = '0004_run_uploads'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('server_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('input_closed', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('stop_requested', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('server_session_items',
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('first', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['server_sessions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'first')
    )


def downgrade() -> None:
    op.drop_table('server_session_items')
    with op.batch_alter_table('server_sessions', schema=None) as batch_op:
        batch_op.drop_column('stop_requested')
        batch_op.drop_column('input_closed')
        batch_op.drop_column('received')
