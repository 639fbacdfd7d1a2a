"""Runs record their task's version and whether they ran without a GPU; hosts name the Python
that runs task families.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column(
                "environment_version",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(
            sa.Column("cpu_mode", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(
            sa.Column(
                "python",
                sqlmodel.sql.sqltypes.AutoString(length=255),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("python")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cpu_mode")
        batch.drop_column("environment_version")
