"""Shared fixtures: a fresh database per test run (SQLite or PostgreSQL), the app, users, clients.

``--db=sqlite`` (default) or ``--db=postgres``: the PostgreSQL run creates its own database on
127.0.0.1:5432 and drops it at the end, so runs never see each other's rows.
"""

import os
import re
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from baselines.staff import StaffCreate, create_staff
from baselines.users import Role, User
from fleet.testing_sshd import SSHD, LoopbackSSHD, start_sshd
from tests.naming import PREFIX, sweep_users
from timetracking.utc import utcnow
from webapp import db
from webapp.app import create_app
from webapp.settings import Settings

# Every portal, CLI and app the tests make names its workspaces with this session's prefix.
os.environ["BASELINER_WORKSPACE_PREFIX"] = PREFIX

# Fixtures kept in modules of their own, for the tests that need them.
pytest_plugins = ["tests.live_runs", "tests.deploy.stack"]
PG_ADMIN = os.environ.get("BASELINER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"


def _touches_the_database(item: pytest.Item, modules: dict[str, bool]) -> bool:
    """Whether a test reads or writes the database: it asks for one (every database fixture
    rests on ``database_url``), or its module picks what to do by ``--db``."""
    if "database_url" in getattr(item, "fixturenames", ()):
        return True
    path = str(item.path)
    if path not in modules:
        modules[path] = 'getoption("--db")' in Path(path).read_text()
    return modules[path]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass runs what touches the database, less the browser journeys: those and
    the host-level tests (marked ``host``: hosts, families, IDEs) ran on SQLite in the same
    ``make test``, where the database is incidental to what they test, and
    running them twice doubled the suite's time for nothing the second database could change.
    ``BASELINER_TEST_EVERYTHING=1`` runs all of it on PostgreSQL too."""
    if config.getoption("--db") != "postgres" or os.environ.get("BASELINER_TEST_EVERYTHING"):
        return
    modules: dict[str, bool] = {}
    keep, drop = [], []
    for item in items:
        once = any(item.get_closest_marker(name) for name in ("e2e", "host"))
        touches = _touches_the_database(item, modules)
        (keep if touches and not once else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgres"),
        default=os.environ.get("BASELINER_TEST_DB", "sqlite"),
        help="database the suite runs against",
    )


@pytest.fixture(scope="session", autouse=True)
def _no_stale_workspace_users() -> Iterator[None]:
    """Remove this session's workspace users (tests.naming.PREFIX) and those of test sessions
    that died, before and after; other installations' users are never touched."""
    enabled = os.geteuid() == 0
    if enabled:
        sweep_users()
    yield
    if enabled:
        sweep_users()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test, so fixtures can tell a test that failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _sweep_after_a_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that failed may have left its workspace users behind (it never reached its Stop):
    remove them at once, so one failure does not fail every later test that needs the same user
    (METR's ``agent``, one per host)."""
    yield
    report = getattr(request.node, "report_call", None)
    if os.geteuid() == 0 and report is not None and report.failed:
        swept = sweep_users()
        if swept:
            print(f"removed workspace users a failed test left: {', '.join(swept)}")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSSHD]:
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"{SSHD} is not installed (apt-get install openssh-server)")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session: Playwright's sync API allows one instance at a time."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    if request.config.getoption("--db") == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        db.upgrade(url)
        yield url
        return
    name = f"baseliner_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    db.upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from empty tables (only for tests that touch the database)."""
    yield
    if "engine" in request.fixturenames:
        empty_tables(request.getfixturevalue("engine"))


def empty_tables(engine: Engine) -> None:
    """Every table emptied, ids from 1 again on PostgreSQL."""
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-not-for-production",
        environment_dirs="",
        scheduler=False,
        scoring_worker=False,  # tests that score turn it on, or call run_once themselves
        workspace_prefix=PREFIX,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine):
    return create_app(settings, migrate=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


def create_account(engine: Engine, role: Role, email: str, name: str) -> User:
    """An account made as the portal makes it (an expert through an application), with the
    password PASSWORD, detached from its session."""
    from baselines import applications
    from baselines.applications import ApplicationCreate

    with Session(engine) as s:
        if role == Role.expert:
            application = applications.submit(
                s,
                ApplicationCreate(
                    name=name,
                    email=email,
                    password=PASSWORD,
                    background="Ten years of GPU kernels and training loops.",
                    availability="weekdays",
                    consent_time_tracking=True,
                    consent_snapshots=True,
                ),
                utcnow(),
            )
            user = s.get(User, application.user_id)
        else:
            data = StaffCreate(email=email, name=name, role=role)
            user = create_staff(s, data, None, utcnow(), password=PASSWORD)
        s.commit()
        s.refresh(user)
        s.expunge(user)
        return user


@pytest.fixture
def make_user(engine: Engine):
    """Create an account directly: ``make_user(Role.coordinator)`` -> User (password PASSWORD)."""
    counter = iter(range(1, 10_000))

    def make(role: Role, email: str | None = None, name: str | None = None) -> User:
        n = next(counter)
        default_name = f"Expert {n}" if role == Role.expert else f"{role.value} {n}"
        return create_account(
            engine, role, email or f"{role.value}{n}@example.org", name or default_name
        )

    return make


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str = "/login") -> str:
    """The session's CSRF token, read from a page's form as a browser would."""
    response = client.get(path)
    match = CSRF_RE.search(response.text)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def login(client: TestClient, user: User, password: str = PASSWORD) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": user.email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


def post_form(client: TestClient, path: str, data: dict[str, str], page: str = "/") -> "object":
    """POST a form with the session's CSRF token, as the page's form would."""
    token = csrf_token(client, page)
    return client.post(path, data={**data, "csrf_token": token})


def fixed_now(app, when: datetime) -> None:
    """Freeze the app's clock (the NowDep dependency, the header's clock) at ``when``."""
    app.state.clock = lambda: when
