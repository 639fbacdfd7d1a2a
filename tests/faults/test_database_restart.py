"""The database goes away and comes back (a restart or failover): while it is away every request
gets a clear 503 with Retry-After, never a crash page; once it is back the same process answers
again on its own (no restart, the same sessions), and its background leases are renewed.

PostgreSQL is shared with the rest of the machine, so the restart is made per database: new
connections refused (``ALLOW_CONNECTIONS false``) and every open one cut
(``pg_terminate_backend``), which is what the app sees of a server restart; then allowed again.
"""

import os
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select

from baselines import tokens
from baselines.users import Role, User
from fleet.testing_sshd import free_port
from tests.conftest import login
from tests.portal import Portal
from timetracking.utc import utcnow
from webapp.job_lease import JobLease


@pytest.fixture
def portal(database_url, tmp_path) -> Iterator[Portal]:
    if database_url.startswith("sqlite"):
        pytest.skip("a database server restart is a PostgreSQL matter (the --db=postgres pass)")
    port = free_port()
    env = {
        **os.environ,
        "BASELINER_DATABASE_URL": database_url,
        "BASELINER_DATA_DIR": str(tmp_path / "data"),
        "BASELINER_SECRET_KEY": "database-restart-secret",
        "BASELINER_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("BASELINER_CONFIG", None)
    portal = Portal(port, env, tmp_path / "portal.log")
    portal.start()
    yield portal
    portal.stop()


class Outage:
    """Takes one database away and brings it back, from the server's maintenance database."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.name = url.database
        self.admin: Engine = create_engine(
            url.set(database="postgres"), isolation_level="AUTOCOMMIT"
        )

    def begin(self) -> None:
        with self.admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false'))
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            )

    def end(self) -> None:
        with self.admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true'))


def _lease_renewals(engine: Engine) -> dict[str, object]:
    with Session(engine) as s:
        return {row.name: row.expires_at for row in s.exec(select(JobLease))}


def test_requests_answer_503_while_the_database_is_away_and_recover_after(
    portal, database_url, engine, make_user
):
    expert = make_user(Role.expert)
    with Session(engine) as s:
        admin = s.get(User, make_user(Role.admin).id)
        _, token = tokens.create(s, admin, "ops", utcnow(), admin.id)
        s.commit()
    browser = httpx.Client(base_url=portal.base, timeout=30, follow_redirects=False)
    login(browser, expert)
    api = httpx.Client(
        base_url=portal.base, timeout=30, headers={"Authorization": f"Bearer {token}"}
    )
    assert browser.get("/dashboard").status_code == 200
    assert api.get("/api/v1/me").status_code == 200
    pid = portal.process.pid

    outage = Outage(database_url)
    outage.begin()
    try:
        page = browser.get("/dashboard")
        assert page.status_code == 503, page.text[:300]
        assert "The database is not answering right now" in page.text
        assert page.headers["retry-after"] == "5"
        answer = api.get("/api/v1/me")
        assert answer.status_code == 503
        assert answer.json() == {
            "detail": "The database is not answering right now. Try again in a moment."
        }
        health = httpx.get(f"{portal.base}/healthz")
        assert health.status_code == 503 and health.json()["database"] == "unreachable"
    finally:
        outage.end()

    deadline = time.monotonic() + 20
    while browser.get("/dashboard").status_code != 200:
        assert time.monotonic() < deadline, "the portal did not recover: " + portal.tail()
        time.sleep(0.5)
    assert api.get("/api/v1/me").status_code == 200  # the same session and token, no sign-in
    assert portal.process.pid == pid and portal.process.poll() is None
    engine.dispose()  # the suite's own pool lost its connections too
    before = _lease_renewals(engine)
    deadline = time.monotonic() + 30
    while _lease_renewals(engine) == before:  # renewed every 10 s by the portal's threads
        assert time.monotonic() < deadline, "leases were not renewed: " + portal.tail()
        time.sleep(1)
    assert "unhandled error" not in portal.tail()  # every failure was answered, none crashed
