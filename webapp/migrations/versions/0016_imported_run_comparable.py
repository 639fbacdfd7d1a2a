"""analytics_runs.comparable: whether an imported run was scored on its task's hardware

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("analytics_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comparable", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analytics_runs", schema=None) as batch_op:
        batch_op.drop_column("comparable")
