"""Scoring conditions: checkpoints.condition, the calibrations table (y_s and y_r per condition)
and the condition of imported runs and score-log entries

A family may score under a condition of the operator's choosing (rust_scaffolding: the model);
scores under different conditions are calibrated apart and never pooled.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import timetracking.utc

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("condition", _text(200), nullable=False, server_default=""))
    for table in ("analytics_runs", "analytics_score_log"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("condition", _text(200), nullable=True))
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment", _text(200), nullable=False),
        sa.Column("condition", _text(200), nullable=False),
        sa.Column("y_s", sa.Float(), nullable=False),
        sa.Column("y_r", sa.Float(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", timetracking.utc.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("environment", "condition", name="uq_calibration"),
    )
    op.create_index("ix_calibrations_environment", "calibrations", ["environment"])


def downgrade() -> None:
    op.drop_index("ix_calibrations_environment", table_name="calibrations")
    op.drop_table("calibrations")
    for table in ("analytics_score_log", "analytics_runs", "checkpoints"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("condition")
