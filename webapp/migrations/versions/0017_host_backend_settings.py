"""hosts.backend and hosts.settings: a host's backend by name and its own settings as JSON

The container image and the task families' Python were columns of every host; they are now the
container and process backends' settings (fleet.backends), so a new backend (Slurm) brings its
own settings without a column per backend.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:40:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(
            sa.Column(
                "backend",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="process",
            )
        )
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
    hosts = sa.table(
        "hosts",
        sa.column("id", sa.Integer),
        sa.column("runtime", sa.String),
        sa.column("image", sa.String),
        sa.column("python", sa.String),
        sa.column("backend", sa.String),
        sa.column("settings", sa.JSON),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(hosts)).mappings().all():
        settings = {"python": row["python"] or ""}
        if row["image"]:
            settings["image"] = row["image"]
        connection.execute(
            hosts.update()
            .where(hosts.c.id == row["id"])
            .values(backend=row["runtime"] or "process", settings=settings)
        )
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("runtime")
        batch.drop_column("image")
        batch.drop_column("python")


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(
            sa.Column("runtime", sa.String(16), nullable=False, server_default="process")
        )
        batch.add_column(sa.Column("image", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("python", sa.String(255), nullable=False, server_default=""))
    hosts = sa.table(
        "hosts",
        sa.column("id", sa.Integer),
        sa.column("runtime", sa.String),
        sa.column("image", sa.String),
        sa.column("python", sa.String),
        sa.column("backend", sa.String),
        sa.column("settings", sa.JSON),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(hosts)).mappings().all():
        settings = (
            row["settings"]
            if isinstance(row["settings"], dict)
            else json.loads(row["settings"] or "{}")
        )
        connection.execute(
            hosts.update()
            .where(hosts.c.id == row["id"])
            .values(
                runtime=row["backend"],
                image=settings.get("image", ""),
                python=settings.get("python", ""),
            )
        )
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("backend")
        batch.drop_column("settings")
