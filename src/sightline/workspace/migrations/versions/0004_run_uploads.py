"""each upload of a run by cursor position, for exactly-once uploads when a session resumes

Revision ID: 0004_run_uploads
Revises: 0003_session_owners
"""

import sqlalchemy as sa
from alembic import op

revision = '0004_run_uploads'
down_revision = '0003_session_owners'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_uploads',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['prediction_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'position')
    )


def downgrade() -> None:
    op.drop_table('run_uploads')
