"""Migration 0012 keys existing leases by machine: each lease gets its host's machine, and leases
two records of one machine already both held survive (their run releases them) instead of
failing the upgrade."""

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import text

from baselines.users import Role
from tests.conftest import PG_ADMIN, create_account
from timetracking.utc import utcnow
from webapp import db

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmxyFyWwlW1PDEaAJmhX5zWb0tXEKBnU9bh1ELLuYdI"


@pytest.fixture
def scratch_url(request, tmp_path) -> Iterator[str]:
    """An empty database of the suite's kind, for migrating step by step."""
    if request.config.getoption("--db") == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    name = f"baseliner_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_existing_leases_get_their_machine(scratch_url):
    config = db.alembic_config(scratch_url)
    command.upgrade(config, "0011")
    engine = db.make_engine(scratch_url)
    try:
        expert = create_account(engine, Role.expert, "ex@example.org", "Ex")
        # Hosts as the schema at 0011 has them (the Host model has columns of later ones).
        records = [
            ("local-a", "local", "", 22, ""),
            ("local-b", "local", "", 22, ""),
            ("gpu-1", "ssh", "GPU1.Example.org.", 2201, KEY),
        ]
        with engine.begin() as conn:
            for name, driver, address, port, key in records:
                conn.execute(
                    text(
                        "INSERT INTO hosts (name, driver, address, port, username, key_path,"
                        " host_key, runtime, image, max_workspaces, status, status_reason,"
                        " draining, gpus, created_at) VALUES (:name, :driver, :address, :port,"
                        " 'root', '/', :key, 'process', '', 4, 'down', '', false, '[]', :now)"
                    ),
                    {"name": name, "driver": driver, "address": address, "port": port,
                     "key": key, "now": utcnow()},
                )  # fmt: skip
            ids = list(conn.execute(text("SELECT id FROM hosts ORDER BY id")).scalars())
        # Runs as the schema at 0011 has them (the Run model has columns of later migrations).
        with engine.begin() as conn:
            for _ in range(3):
                conn.execute(
                    text(
                        "INSERT INTO runs (expert_id, environment, ai_tools, status, status_reason,"
                        " gpu_indices, unix_user, workspace_path, runtime, runtime_state,"
                        " archive_path, created_at) VALUES (:expert, '', 'NO_AI_TOOLS', 'active',"
                        " '', '[]', '', '', '', '{}', '', :now)"
                    ),
                    {"expert": expert.id, "now": utcnow()},
                )
            run_ids = list(conn.execute(text("SELECT id FROM runs ORDER BY id")).scalars())
        rows = [  # (host, kind, value, run): both local records hold port 20000 already
            (ids[0], "port", 20000, run_ids[0]),
            (ids[0], "gpu", 0, run_ids[0]),
            (ids[1], "port", 20000, run_ids[1]),
            (ids[2], "port", 20000, run_ids[2]),
        ]
        with engine.begin() as conn:
            for host_id, kind, value, run_id in rows:
                conn.execute(
                    text(
                        "INSERT INTO leases (host_id, kind, value, run_id)"
                        " VALUES (:host_id, :kind, :value, :run_id)"
                    ),
                    {"host_id": host_id, "kind": kind, "value": value, "run_id": run_id},
                )
        command.upgrade(config, "head")
        with engine.connect() as conn:
            machines = conn.execute(
                text("SELECT host_id, kind, machine FROM leases ORDER BY id")
            ).all()
        assert [tuple(row) for row in machines] == [
            (ids[0], "port", "local"),
            (ids[0], "gpu", "local"),
            (ids[1], "port", f"local#host{ids[1]}"),  # kept until its run releases it
            (ids[2], "port", "gpu1.example.org:2201"),
        ]
        command.downgrade(config, "0011")
        command.upgrade(config, "head")
    finally:
        engine.dispose()
