"""assignment rules: due date, note and retries on assignments; one run per attempt

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import timetracking.utc

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("due_at", timetracking.utc.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column(
                "note",
                sqlmodel.sql.sqltypes.AutoString(length=2000),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(
            sa.Column("retries_granted", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
    # Runs made before this migration: number each assignment's runs in the order they were made,
    # so the unique key below holds for them too.
    op.execute(
        "UPDATE runs SET attempt = (SELECT COUNT(*) FROM runs AS earlier"
        " WHERE earlier.assignment_id = runs.assignment_id AND earlier.id <= runs.id)"
        " WHERE assignment_id IS NOT NULL"
    )
    with op.batch_alter_table("runs") as batch:
        batch.create_unique_constraint("uq_run_attempt", ["assignment_id", "attempt"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("uq_run_attempt", type_="unique")
        batch.drop_column("attempt")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("retries_granted")
        batch.drop_column("note")
        batch.drop_column("due_at")
