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

    def run(
        *args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**env, **(extra_env or {})},
            timeout=120,
        )

    return run


def test_help_lists_the_commands(run):
    out = run("--help").stdout
    for command in ("serve", "db", "users", "tokens", "demo", "env"):
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


def test_demo_prints_a_login_for_every_role(run, engine):
    from sqlmodel import Session, select

    from baselines.assignments import Assignment
    from payments import pricing
    from timetracking.timesheets import Timesheet

    result = run("demo", "--no-serve")
    assert result.returncode == 0, result.stderr
    for role in ("admin", "coordinator", "finance", "analyst", "expert", "applicant"):
        assert re.search(rf"^\s+{role}\s+\S+@demo\.baseliner\s+demo-\S+$", result.stdout, re.M), (
            role
        )
    again = run("demo", "--no-serve")  # re-running resets passwords, creates nothing twice
    assert again.returncode == 0, again.stderr
    with Session(engine) as s:  # the expert has the kernel task to Start, once
        (assignment,) = s.exec(select(Assignment)).all()
        assert assignment.environment == "triton_cumsum/main" and assignment.environment_version
        # and last week's timesheet, submitted, to approve and pay: 3:40 less 25 minutes idle
        (sheet,) = s.exec(select(Timesheet)).all()
        assert (sheet.status, sheet.working_s, sheet.idle_s) == ("submitted", 11700, 1500)
        assert pricing.price(s, sheet).amount_cents == 19500  # approved now, at 60.00 an hour


FAMILIES = Path(__file__).resolve().parent.parent / "environments" / "families"


def _columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_env_list_shows_every_task_with_the_portals_numbers(run, engine):
    from sqlmodel import Session

    from environments import task_settings
    from environments.catalogue import discover
    from timetracking.utc import utcnow

    catalogue = discover(str(FAMILIES))
    family = catalogue.family("count_words")
    with Session(engine) as s:
        numbers = {"metric": "accuracy", "direction": "higher", "y_s": 0.0, "y_r": 1.0}
        task_settings.save(s, family, family.task("short"), numbers, None, utcnow())
        s.commit()
    result = run("env", "list", extra_env={"BASELINER_ENVIRONMENT_DIRS": str(FAMILIES)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert _columns(lines[0]) == [
        "environment",
        "version",
        "files",
        "GPUs",
        "metric",
        "direction",
        "y_s",
        "y_r",
        "time limit",
        "status",
    ]
    rows = {_columns(line)[0]: _columns(line) for line in lines[1:]}
    assert rows["triton_cumsum/main"][3:] == [
        "1 h100",
        "ln(ms)",
        "lower",
        "1.631",
        "-1.011",
        "8 h",
        "ready",
    ]
    assert rows["count_words/short"] == [
        "count_words/short",
        "1.0.0",
        family.version,
        "none",
        "accuracy",
        "higher",
        "0",
        "1",
        "8 h",
        "ready",
    ]
    assert rows["count_words/long"][4:] == [
        "-",
        "-",
        "-",
        "-",
        "8 h",
        "needs: y_s, y_r, direction, metric",
    ]
    assert result.stderr == ""


def test_env_list_reports_manifest_errors_on_stderr_with_status_1(run, tmp_path):
    broken = tmp_path / "families" / "broken"
    broken.mkdir(parents=True)
    (broken / "broken.py").write_text("class TaskFamily:\n    standard_version = '0.5.0'\n")
    (broken / "manifest.yaml").write_text("tasks:\n  main:\n    baseliner:\n      y_s: fast\n")
    dirs = f"{FAMILIES}:{tmp_path / 'families'}"
    result = run("env", "list", extra_env={"BASELINER_ENVIRONMENT_DIRS": dirs})
    assert result.returncode == 1
    assert "count_words/short" in result.stdout  # the good families are still listed
    assert "broken" not in result.stdout
    assert f"error: {broken / 'manifest.yaml'}: tasks.main.baseliner.y_s: must be a number" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_env_list_without_a_database_uses_the_manifests(run, tmp_path):
    result = run(
        "env",
        "list",
        extra_env={
            "BASELINER_DATABASE_URL": "",
            "BASELINER_DATA_DIR": str(tmp_path / "nothing-here"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "triton_cumsum/main" in result.stdout and "ready" in result.stdout
    assert "no database at" in result.stderr and "manifest values only" in result.stderr
    assert not (tmp_path / "nothing-here").exists()  # listing creates nothing


PROBE = Path(__file__).resolve().parent.parent / "fleet" / "families"


@pytest.mark.host  # the SSH host is the subject: once
def test_env_check_on_the_ssh_test_host(run, sshd, tmp_path):
    """Registered the way an operator would (fingerprint confirmed), then checked: the probe
    family's start and reference score as its manifest says; a manifest that disagrees fails."""
    from fleet.drivers import ssh

    fingerprint = ssh.fingerprint(sshd.host_key_line)
    added = run(
        "hosts", "add", "--name", "ssh-test", "--address", sshd.address, "--port",
        str(sshd.port), "--user", sshd.username, "--key", str(sshd.key_path),
        "--fingerprint", fingerprint,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    env = {"BASELINER_ENVIRONMENT_DIRS": os.pathsep.join([str(PROBE), str(FAMILIES)])}
    done = run("env", "check", "probe/main", "--host", "ssh-test", extra_env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert re.search(
        r"starting solution\s+scored\s+score\s+0.2500\s+normalised\s+0.000", done.stdout
    )
    assert re.search(
        r"reference solution\s+scored\s+score\s+1.0000\s+normalised\s+1.000", done.stdout
    )
    assert lines[-1] == "ok"
    # A copy of the family whose manifest claims another y_s: the check fails loudly.
    import shutil

    drifted = tmp_path / "drifted"
    shutil.copytree(PROBE / "probe", drifted / "probe")
    manifest = drifted / "probe" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("y_s: 0.25", "y_s: 0.5"))
    failed = run(
        "env", "check", "probe/main", "--host", "ssh-test",
        extra_env={"BASELINER_ENVIRONMENT_DIRS": str(drifted)},
    )  # fmt: skip
    assert failed.returncode == 1 and failed.stdout.splitlines()[-1] == "FAILED"
    assert "drifted" in failed.stderr
    # An unmodified METR-format family (no reference named): the start scores, y_r unchecked.
    strict = run("env", "check", "count_words/short", "--host", "ssh-test", extra_env=env)
    assert strict.returncode == 0, strict.stdout + strict.stderr
    assert "y_r is not checked" in strict.stdout
    # Bad input: a clear message and status 2, not a traceback.
    unknown = run("env", "check", "nope/main", "--host", "ssh-test", extra_env=env)
    assert unknown.returncode == 2 and "No environment named 'nope/main'" in unknown.stderr
    no_host = run("env", "check", "probe/main", "--host", "nowhere", extra_env=env)
    assert no_host.returncode == 2 and "no host named nowhere" in no_host.stderr
