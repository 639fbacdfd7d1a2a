"""Forward-auth for IDE subdomains (deploy/nginx): the same access rule as /ide/<run>/."""

from sqlmodel import Session

from baselines.runs import Run, RunStatus
from baselines.users import Role
from fleet import hosts
from fleet.hosts import HostCreate
from tests.conftest import login
from timetracking.utc import utcnow


def _active_run(engine, expert_id: int) -> int:
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        run = Run(
            expert_id=expert_id,
            host_id=host.id,
            port=23456,
            status=RunStatus.active,
            created_at=utcnow(),
        )
        s.add(run)
        s.commit()
        return run.id


def test_forward_auth_answers_per_cookie_and_run(app, client, engine, make_user):
    from fastapi.testclient import TestClient

    expert = make_user(Role.expert)
    run_id = _active_run(engine, expert.id)
    headers = {"X-Forwarded-Host": f"run-{run_id}.ide.baseliner.example.org"}
    assert client.get("/ide-auth", headers=headers).status_code == 401
    login(client, expert)
    ok = client.get("/ide-auth", headers=headers)
    assert ok.status_code == 200
    assert ok.headers["X-Baseliner-Upstream"] == "127.0.0.1:23456"
    assert (
        client.get("/ide-auth", headers={"X-Forwarded-Host": "portal.example.org"}).status_code
        == 404
    )
    other = {"X-Forwarded-Host": f"run-{run_id + 1}.ide.baseliner.example.org"}
    assert client.get("/ide-auth", headers=other).status_code == 404
    with TestClient(app, follow_redirects=False) as finance:
        login(finance, make_user(Role.finance))
        assert finance.get("/ide-auth", headers=headers).status_code == 403
    with Session(engine) as s:
        run = s.get(Run, run_id)
        run.status = RunStatus.finished
        s.add(run)
        s.commit()
    assert client.get("/ide-auth", headers=headers).status_code == 410


def test_portal_path_closes_when_ides_have_their_own_origin(settings, engine, make_user):
    from fastapi.testclient import TestClient

    from webapp.app import create_app

    settings.ide_url = "https://run-{run}.ide.baseliner.example.org/"
    expert = make_user(Role.expert)
    run_id = _active_run(engine, expert.id)
    with TestClient(create_app(settings, migrate=False), follow_redirects=False) as client:
        login(client, expert)
        assert client.get(f"/ide/{run_id}/").status_code == 404
        page = client.get(f"/runs/{run_id}").text
        assert f"https://run-{run_id}.ide.baseliner.example.org/" in page
        headers = {"X-Forwarded-Host": f"run-{run_id}.ide.baseliner.example.org"}
        assert client.get("/ide-auth", headers=headers).status_code == 200
