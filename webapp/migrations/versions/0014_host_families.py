"""host_families: what came of installing each task family on each host (hosts prepare)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import timetracking.utc

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "host_families",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("family", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("prepared_at", timetracking.utc.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host_id", "family"),
    )
    with op.batch_alter_table("host_families", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_host_families_host_id"), ["host_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("host_families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_families_host_id"))
    op.drop_table("host_families")
