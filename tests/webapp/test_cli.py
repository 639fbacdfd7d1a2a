"""The `baseliner` command, run as a person would run it, against the test database."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

BIN = Path(sys.executable).parent / "baseliner"


@pytest.fixture
def run(database_url, tmp_path, engine):
    env = {
        **os.environ,
        "BASELINER_DATABASE_URL": database_url,
        "BASELINER_DATA_DIR": str(tmp_path / "data"),
        "BASELINER_PUBLIC_URL": "http://portal.test:8000",
    }
    env.pop("BASELINER_CONFIG", None)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
        )

    return run


def test_help_lists_the_commands(run):
    out = run("--help").stdout
    for command in ("serve", "db", "users", "tokens", "demo"):
        assert command in out


def test_db_upgrade_is_idempotent(run):
    assert run("db", "upgrade").returncode == 0
    assert "newest schema" in run("db", "upgrade").stdout


def test_users_create_with_password_and_token(run, app):
    made = run(
        "users",
        "create",
        "--email",
        "Fin@Example.org",
        "--role",
        "finance",
        "--password-stdin",
        stdin="a fine long password\n",
    )
    assert made.returncode == 0, made.stderr
    assert "created finance fin@example.org" in made.stdout
    assert "a fine long password" not in made.stdout + made.stderr
    token = run("tokens", "create", "--email", "fin@example.org", "--name", "payouts")
    assert token.returncode == 0
    plain = token.stdout.strip()
    with TestClient(app) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
        assert me.json()["role"] == "finance"


def test_users_create_without_password_prints_a_set_password_link(run):
    made = run("users", "create", "--email", "coord@example.org", "--role", "coordinator")
    assert made.returncode == 0, made.stderr
    assert re.search(r"http://portal\.test:8000/reset/\S+", made.stdout)


def test_cli_bad_input_is_a_message_not_a_traceback(run):
    first = run(
        "users",
        "create",
        "--email",
        "a@example.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin="long enough password\n",
    )
    assert first.returncode == 0
    cases = [
        (("users", "create", "--email", "a@example.org", "--role", "admin"), "already exists"),
        (("users", "create", "--email", "nope", "--role", "admin"), "email"),
        (("users", "create", "--email", "e@example.org", "--role", "expert"), "staff role"),
        (("users", "create", "--email", "w@example.org", "--role", "wizard"), "wizard"),
        (("tokens", "create", "--email", "ghost@example.org", "--name", "x"), "no account"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.returncode == 2, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    short = run(
        "users",
        "create",
        "--email",
        "s@example.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 2 and "at least 10" in short.stderr


def test_demo_prints_a_login_for_every_role(run):
    result = run("demo", "--no-serve")
    assert result.returncode == 0, result.stderr
    for role in ("admin", "coordinator", "finance", "analyst", "expert", "applicant"):
        assert re.search(rf"^\s+{role}\s+\S+@demo\.baseliner\s+demo-\S+$", result.stdout, re.M), (
            role
        )
    again = run("demo", "--no-serve")  # re-running resets passwords, creates nothing twice
    assert again.returncode == 0, again.stderr
