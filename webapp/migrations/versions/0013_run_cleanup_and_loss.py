"""runs: a clean-up that failed and is retried (cleanup_*), a workspace found lost (lost_at)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import timetracking.utc

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("cleanup_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("cleanup_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("cleanup_next_at", timetracking.utc.UTCDateTime(), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "cleanup_error",
                sqlmodel.sql.sqltypes.AutoString(length=2000),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(sa.Column("lost_at", timetracking.utc.UTCDateTime(), nullable=True))
        batch.create_index("ix_runs_cleanup_pending", ["cleanup_pending"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_cleanup_pending")
        for column in ("lost_at", "cleanup_error", "cleanup_next_at", "cleanup_attempts"):
            batch.drop_column(column)
        batch.drop_column("cleanup_pending")
