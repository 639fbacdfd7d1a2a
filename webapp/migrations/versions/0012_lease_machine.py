"""leases.machine: GPUs and ports are leased per machine, not per host record

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:10:00

Existing leases get their host's machine key (the rule of fleet.machines, copied here so this
migration keeps meaning what it meant). Two records for one machine may already hold the same GPU
or port; such a later lease keeps a key of its own record (``machine#host<id>``) so no live run
loses its lease, and the run releases it when it ends.
"""

import ipaddress
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _machine(driver: str, address: str, port: int) -> str:
    # Hosts of the local driver are one machine whatever their address says.
    if fixed := {"local": "local"}.get(driver):
        return fixed
    name = (address or "").strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in LOOPBACK_NAMES:
        name = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return f"{name}:{port}"
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return f"[{ip.compressed}]:{port}" if ip.version == 6 else f"{ip.compressed}:{port}"


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(
            sa.Column(
                "machine",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                nullable=False,
                server_default="",
            )
        )
    conn = op.get_bind()
    hosts = {
        row.id: _machine(row.driver, row.address, row.port)
        for row in conn.execute(sa.text("SELECT id, driver, address, port FROM hosts"))
    }
    seen: set[tuple[str, str, int]] = set()
    rows = conn.execute(sa.text("SELECT id, host_id, kind, value FROM leases ORDER BY id"))
    for row in rows.fetchall():
        machine = hosts[row.host_id]
        if (machine, row.kind, row.value) in seen:
            machine = f"{machine}#host{row.host_id}"
        seen.add((machine, row.kind, row.value))
        conn.execute(
            sa.text("UPDATE leases SET machine = :machine WHERE id = :id"),
            {"machine": machine, "id": row.id},
        )
    with op.batch_alter_table("leases") as batch:
        batch.drop_constraint("uq_lease", type_="unique")
        batch.create_unique_constraint("uq_lease_machine", ["machine", "kind", "value"])


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_constraint("uq_lease_machine", type_="unique")
        batch.create_unique_constraint("uq_lease", ["host_id", "kind", "value"])
        batch.drop_column("machine")
