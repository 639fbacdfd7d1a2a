"""A workspace's unix user reads its own task folder and nothing else of the platform's.

Two experts' runs are started for real through the portal's own jobs, on this machine (the local
driver, where the portal and the workspaces share one machine) and on the loopback SSH host.
Then, as run A's unix user (``runuser``, what A's IDE terminal is), every read of what is not A's
must be refused: the portal's data dir (its secret key, the SQLite database at its default place,
checkpoint snapshots, the archive of a finished run), the portal's private key for its SSH
hosts, run B's home, task files and ``task`` token, the installed task family with its scorer
and hidden files, and the copy of B's folder that scoring uses. A's own files stay readable, so a
refusal is the permission and not a broken probe; every path is first checked to exist.

The portal runs with its defaults where they matter: the data dir inside a folder every user may
traverse (as a checkout is), with no secret key configured, and on SQLite the database in it.

Two gaps are shown as expected failures, for the deployment to close (they are not file
permissions): PostgreSQL here trusts every local connection, and each code-server answers on a
loopback port without auth of its own, which every local user can reach.
"""

import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlmodel import Session

from baselines import checkpointing
from baselines.runs import Run, RunStatus
from baselines.users import Role
from fleet import snapshots, task_runs, workspaces
from fleet.drivers.base import CommandResult, Driver
from fleet.hosts import Host
from fleet.task_command.install import ROOT as TASK_COMMAND_ROOT
from tests.conftest import create_account
from tests.hosts import ready_host
from tests.live_runs import PROBE_FAMILIES as FAMILIES
from timetracking.utc import utcnow
from webapp import db
from webapp.app import create_app

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")
ENVIRONMENT = "probe/main"
q = shlex.quote


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may enter and list, as a deployment's checkout or /srv is (pytest's
    own temporary folders are private to root, which would hide what the portal leaves open)."""
    folder = Path(tempfile.mkdtemp(prefix="baseliner-open-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def settings(settings, open_folder, request):
    """The portal's defaults: data in ``<folder>/var``, a secret key it makes itself, and on
    SQLite the database in the data dir, upgraded first as ``baseliner db upgrade`` does."""
    settings.environment_dirs = str(FAMILIES)
    settings.data_dir = open_folder / "var"
    settings.secret_key = SecretStr("")
    if request.config.getoption("--db") == "sqlite":
        settings.database_url = ""
        db.upgrade(settings.db_url)
    return settings


@pytest.fixture(params=["local", "ssh"])
def host_kind(request) -> str:
    return request.param


@pytest.fixture
def two_runs(app, sshd, host_kind) -> Iterator[tuple[Run, Run]]:
    """Runs of two experts on one ready host of ``host_kind``, started at once and stopped at
    the end."""
    engine = app.state.engine
    ready_host(engine, host_kind, sshd=sshd if host_kind == "ssh" else None)
    ids = []
    for n in (1, 2):
        expert = create_account(engine, Role.expert, f"expert{n}@example.org", f"Expert {n}")
        with Session(engine) as s:
            run = Run(expert_id=expert.id, environment=ENVIRONMENT, created_at=utcnow())
            s.add(run)
            s.commit()
            ids.append(run.id)
            task = checkpointing.run_task(s, app.state.settings, run)
        app.state.workspaces.start(run.id, task.launch)
    try:
        runs = []
        for run_id in ids:
            app.state.workspaces.wait(run_id, timeout=180)
            with Session(engine) as s:
                run = s.get(Run, run_id)
                assert run.status == RunStatus.active, run.status_reason
                runs.append(run)
        yield runs[0], runs[1]
    finally:
        for run_id in ids:
            with Session(engine) as s:
                run = s.get(Run, run_id)
                if run.status == RunStatus.active:
                    app.state.workspaces.request_stop(s, run, "test over")
        for run_id in ids:
            app.state.workspaces.wait(run_id, timeout=60)


def _host(app, run: Run) -> tuple[Host, Driver]:
    with Session(app.state.engine) as s:
        host = s.get(Host, run.host_id)
        s.expunge(host)
    return host, app.state.workspaces.connections.driver(host)


def _as(driver: Driver, user: str, command: str) -> CommandResult:
    """``command`` run as ``user`` with a login-less shell, as in that run's terminal."""
    return driver.run(f"runuser -u {q(user)} -- bash -c {q(command)}", check=False, timeout=30)


def _read(path: str) -> str:
    """Read a file's bytes, or list a folder's entries."""
    return f"if [ -d {q(path)} ]; then ls -A -- {q(path)}; else head -c 1 -- {q(path)}; fi"


def _readable(driver: Driver, user: str, paths: dict[str, str]) -> dict[str, str]:
    """Of ``paths`` (what -> path), those ``user`` could read, with what came back; every path
    must exist, so a refusal is never a missing file."""
    missing = [p for p in paths.values() if driver.run(f"test -e {q(p)}", check=False).exit_status]
    assert not missing, f"expected to exist: {missing}"
    found = {}
    for what, path in paths.items():
        result = _as(driver, user, _read(path))
        if result.exit_status == 0:
            found[what] = f"{path}: {result.stdout[:80]!r}"
    return found


def _checkpoint(app, run: Run) -> Path:
    """B submits a checkpoint, as `task score` does: the snapshot lands in the data dir."""
    with Session(app.state.engine) as s:
        row = checkpointing.submit(
            s, app.state.settings, app.state.workspaces.connections, s.get(Run, run.id),
            source="cli", now=utcnow(),
        )  # fmt: skip
        sha = row.snapshot_sha256
    return snapshots.path_for(checkpointing.snapshot_store(app.state.settings), sha)


def test_the_data_dir_is_private_even_when_made_before_the_portal(settings):
    """A data dir made with the default mode (0755, as ``baseliner db upgrade`` makes it before
    the portal starts) is closed when the portal starts, and its secret key is the portal's."""
    settings.data_dir.mkdir(exist_ok=True)
    settings.data_dir.chmod(0o755)
    with TestClient(create_app(settings, migrate=False)):
        assert oct(settings.data_dir.stat().st_mode & 0o777) == "0o700"
        assert oct((settings.data_dir / "secret_key").stat().st_mode & 0o777) == "0o600"


@needs_root
def test_a_workspace_user_cannot_read_what_is_not_theirs(app, sshd, two_runs):
    a, b = two_runs
    settings = app.state.settings
    host, driver = _host(app, a)
    # A's own task folder and token are A's to read: the probe works.
    own = _as(driver, a.unix_user, "cat ~/solution.py ~/.baseliner/token")
    assert own.exit_status == 0 and "def answer" in own.stdout and "blr_" in own.stdout, own
    snapshot = _checkpoint(app, b)
    with Session(app.state.engine) as s:
        run_b = s.get(Run, b.id)
        task = checkpointing.run_task(s, settings, run_b)
        place_b = workspaces.task_place(app.state.workspaces.connections, run_b, host)
    family = task_runs.install_dir(task.ref.family)
    group = task_runs.family_group(task.ref.family)
    gid = int(driver.run(f"getent group {group} | cut -d: -f3").stdout)
    scratch = task_runs.scratch_home(place_b, gid, snapshot)  # what B's scoring reads
    try:
        paths = {
            "the data dir": str(settings.data_dir),
            "the portal's secret key": str(settings.data_dir / "secret_key"),
            "a checkpoint's snapshot": str(snapshot),
            "the portal's SSH key for its hosts": str(sshd.key_path),
            "B's home": b.workspace_path,
            "B's task file": f"{b.workspace_path}/solution.py",
            "B's task token": f"{b.workspace_path}/.baseliner/token",
            "the installed family": family,
            "the family's scorer": f"{family}/probe/probe.py",
            "the family's hidden file": f"{family}/probe/secret.txt",
            "the scoring copy of B's folder": f"{scratch}/home/solution.py",
        }
        if settings.database_url == "":
            paths["the SQLite database"] = str(settings.data_dir / "baseliner.db")
        assert _readable(driver, a.unix_user, paths) == {}
        # Nor does any process's command line carry a run's token.
        listing = _as(driver, a.unix_user, "ps -eo args").stdout
        token = driver.run(f"cat {q(b.workspace_path)}/.baseliner/token").stdout.strip()
        assert token.startswith("blr_") and token not in listing
    finally:
        place_b.root(f"rm -rf {q(scratch)}", check=False)
    # B finishes: its archive lands in the data dir, out of A's reach too.
    with Session(app.state.engine) as s:
        app.state.workspaces.request_stop(s, s.get(Run, b.id), "done")
    app.state.workspaces.wait(b.id, timeout=60)
    with Session(app.state.engine) as s:
        archive = s.get(Run, b.id).archive_path
    assert archive, "the finished run has no archive"
    assert _readable(driver, a.unix_user, {"B's archive": archive}) == {}
    # The `task` command itself is shared and world-readable: nothing secret lives there.
    assert _as(driver, a.unix_user, f"ls {q(TASK_COMMAND_ROOT)}/bin/task").exit_status == 0


def _trusts_local_connections(database_url: str) -> bool:
    """Whether PostgreSQL lets a TCP connection from this machine in without a password."""
    import psycopg

    url = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        rules = conn.execute(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%'"
        ).fetchall()
    return ("trust",) in rules


@needs_root
@pytest.mark.parametrize("host_kind", ["local"])
def test_the_platforms_postgres_database_is_out_of_a_workspace_users_reach(app, two_runs, request):
    """As A's user, connect to the platform's own database on 127.0.0.1:5432 (with the
    platform's Python, which any user may run) and read its users. On SQLite the database is
    a file in the private data dir, checked above."""
    if request.config.getoption("--db") != "postgres":
        pytest.skip("the platform's database is SQLite here, inside the private data dir")
    a, _ = two_runs
    _, driver = _host(app, a)
    database_url = app.state.settings.database_url
    url = make_url(database_url).set(drivername="postgresql")
    script = (
        "import psycopg\n"
        f"with psycopg.connect({url.render_as_string(hide_password=False)!r}) as c:\n"
        "    print(c.execute('SELECT count(*) FROM users').fetchone()[0], 'users')\n"
    )
    result = _as(driver, a.unix_user, f"{q(sys.executable)} -c {q(script)}")
    reached = result.exit_status == 0 and "users" in result.stdout
    if reached and _trusts_local_connections(database_url):
        pytest.xfail(
            "PostgreSQL here trusts every TCP connection from this machine (pg_hba: trust),"
            f" so workspace user {a.unix_user} read the platform's database"
            f" ({result.stdout.strip()})."
            " A deployment with workspaces on the database's machine needs password (scram)"
            " authentication and pg_hba rules naming the platform's role."
        )
    assert not reached, result.stdout


@needs_root
@pytest.mark.parametrize("host_kind", ["local"])
def test_another_runs_ide_is_out_of_a_workspace_users_reach(app, two_runs):
    """As A's user, ask B's code-server (127.0.0.1:<B's port>, open to every local user) for
    B's `task` token: refused, because B's code-server admits only requests carrying B's key as
    its session cookie, which only the portal's proxy (and the front proxy) send."""
    a, b = two_runs
    _, driver = _host(app, a)
    token = driver.run(f"cat {q(b.workspace_path)}/.baseliner/token").stdout.strip()
    resource = f"/vscode-remote-resource?path={b.workspace_path}/.baseliner/token"
    probe = (
        f"exec 3<>/dev/tcp/127.0.0.1/{b.port}"
        f" && printf 'GET {resource} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
    )
    result = _as(driver, a.unix_user, probe)
    assert token.startswith("blr_") and token not in result.stdout, result.stdout[-300:]
    # What opens it is the key, nothing else: with B's key as the cookie the same request
    # gets the token (what the portal's proxy does for B's expert).
    with Session(app.state.engine) as s:
        key = s.get(Run, b.id).ide_key
    keyed = probe.replace(
        "HTTP/1.0\\r\\n", f"HTTP/1.0\\r\\nCookie: code-server-session={key}\\r\\n"
    )
    assert len(key) >= 40 and keyed != probe
    assert token in _as(driver, a.unix_user, keyed).stdout
