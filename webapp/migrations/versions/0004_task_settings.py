"""task settings: numbers a coordinator supplies for a task whose manifest leaves them out

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import timetracking.utc

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("y_s", sa.Float(), nullable=True),
        sa.Column("y_r", sa.Float(), nullable=True),
        sa.Column("time_limit_s", sa.Integer(), nullable=True),
        sa.Column("aggregation", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", timetracking.utc.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("task_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_settings_environment"), ["environment"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("task_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_settings_environment"))
    op.drop_table("task_settings")
