"""Forward-auth for IDE subdomains (deploy/nginx): the same access rule as /ide/<run>/."""

import pytest
from sqlmodel import Session

from baselines.runs import Run, RunStatus
from baselines.users import Role
from fleet import hosts
from fleet.hosts import HostCreate
from tests.conftest import login
from timetracking.utc import utcnow

pytestmark = pytest.mark.host  # runs once: the database is incidental here


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


def test_caddy_gets_a_sign_in_redirect_where_nginx_gets_401(client, engine, make_user):
    """Caddy hands forward-auth's non-2xx answer to the browser as it is, so it asks for the
    redirect itself (deploy/Caddyfile sends X-Baseliner-Signin)."""
    run_id = _active_run(engine, make_user(Role.expert).id)
    headers = {
        "X-Forwarded-Host": f"run-{run_id}.ide.baseliner.example.org",
        "X-Baseliner-Signin": "redirect",
    }
    answer = client.get("/ide-auth", headers=headers)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"http://127.0.0.1:8000/login?next=/runs/{run_id}"


def test_on_demand_tls_only_for_a_live_runs_own_name(settings, engine, make_user):
    from fastapi.testclient import TestClient

    from webapp.app import create_app

    settings.ide_url = "https://run-{run}.ide.baseliner.example.org/"
    run_id = _active_run(engine, make_user(Role.expert).id)
    with TestClient(create_app(settings, migrate=False)) as caddy:

        def ask(domain: str) -> int:
            return caddy.get("/ide-tls", params={"domain": domain}).status_code

        assert ask(f"run-{run_id}.ide.baseliner.example.org") == 200
        assert ask(f"RUN-{run_id}.IDE.baseliner.example.org") == 200
        assert ask(f"run-{run_id + 1}.ide.baseliner.example.org") == 404
        assert ask(f"run-{run_id}.ide.evil.example.org") == 404
        assert ask(f"x.run-{run_id}.ide.baseliner.example.org") == 404
        assert ask("run-.ide.baseliner.example.org") == 404
        assert ask("run-99999999999999999999.ide.baseliner.example.org") == 404
        assert ask("baseliner.example.org") == 404
        assert caddy.get("/ide-tls").status_code == 404
        with Session(engine) as s:
            run = s.get(Run, run_id)
            run.status = RunStatus.finished
            s.add(run)
            s.commit()
        assert ask(f"run-{run_id}.ide.baseliner.example.org") == 404


def test_the_proxy_is_told_the_forwarders_address_other_containers_dial(
    settings, engine, make_user, sshd
):
    """In deploy/compose.yaml Caddy runs in its own container: the app's forwarders listen on
    every address and /ide-auth names the app container, not its loopback."""
    import socket

    from fastapi.testclient import TestClient

    from tests.hosts import ready_host
    from webapp.app import create_app

    settings.ide_tunnel_bind, settings.ide_tunnel_address = "0.0.0.0", "app1"
    expert = make_user(Role.expert)
    host = ready_host(engine, "ssh", sshd=sshd)
    with Session(engine) as s:
        run = Run(
            expert_id=expert.id,
            host_id=host.id,
            port=sshd.port,
            status=RunStatus.active,
            created_at=utcnow(),
        )
        s.add(run)
        s.commit()
        run_id = run.id
    with TestClient(create_app(settings, migrate=False), follow_redirects=False) as client:
        login(client, expert)
        headers = {"X-Forwarded-Host": f"run-{run_id}.ide.baseliner.example.org"}
        answer = client.get("/ide-auth", headers=headers)
        assert answer.status_code == 200
        name, port = answer.headers["X-Baseliner-Upstream"].split(":")
        assert name == "app1"
        # Listening on every address: reachable on this machine's own non-loopback address.
        outward = socket.gethostbyname(socket.gethostname())
        with socket.create_connection((outward, int(port)), timeout=5) as sock:
            assert sock.recv(4) == b"SSH-"  # the run's port here is the host's own sshd
