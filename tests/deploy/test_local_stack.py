"""The production stack of deploy/compose.yaml, run as the processes it would start
(deploy/local_stack.py): two app processes on one PostgreSQL behind Caddy with TLS.

Through Caddy, over HTTPS: the portal answers and signs in; a run's IDE subdomain gets its
certificate on demand and its traffic after forward-auth said yes for that cookie (no cookie: a
redirect to sign in; another expert: refused), with the portal's cookie stripped before the IDE;
and when one app process is killed with SIGKILL every request still gets through, the leases
move to the survivor, and the IDE subdomain keeps working.
"""

import json
import os
import re
import signal
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select
from websockets.sync.client import connect

from baselines.users import Role
from tests.conftest import PASSWORD, create_account
from tests.deploy.stack import DOMAIN, client, echo_run, get
from tests.ide.servers import Echo, echo_app, serve
from webapp.job_lease import JobLease

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/caddy").exists(), reason="Debian's caddy (scripts/install.sh) is missing"
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _session_cookie(response: httpx.Response) -> str:
    """The session cookie a response set (scoped to .baseliner.test, so not in httpx's jar for
    127.0.0.1: the test carries it as a browser would)."""
    for value in response.headers.get_list("set-cookie"):
        if value.startswith("baseliner_session="):
            assert f"domain=.{DOMAIN}" in value.lower(), value
            assert "secure" in value.lower(), value
            return value.split(";", 1)[0]
    raise AssertionError(f"no session cookie in {response.headers}")


def _sign_in(port: int, email: str) -> str:
    """The session cookie after signing in through Caddy."""
    page = get(port, DOMAIN, "/login")
    before = _session_cookie(page)
    name = DOMAIN
    with client(port) as http:
        done = http.post(
            "/login",
            headers={"Host": f"{DOMAIN}:{port}", "Cookie": before},
            data={"email": email, "password": PASSWORD, "csrf_token": CSRF.search(page.text)[1]},
            extensions={"sni_hostname": name},
        )
    assert done.status_code == 303, done.text[:500]
    return _session_cookie(done)


def _websocket(port: int, name: str, path: str, cookie: str):
    """A WebSocket through Caddy to ``name`` on loopback, with the browser's Origin."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return connect(
        f"wss://{name}:{port}{path}",
        sock=socket.create_connection(("127.0.0.1", port)),
        ssl=context,
        server_hostname=name,
        origin=f"https://{name}:{port}",
        additional_headers={"Cookie": cookie},
        open_timeout=20,
    )


def test_the_stack_serves_signs_in_carries_ides_and_survives_a_killed_process(stack):
    processes, url, port = stack
    engine = create_engine(url)
    expert = create_account(engine, Role.expert, "expert@example.org", "Expert")
    other = create_account(engine, Role.expert, "other@example.org", "Other")
    with serve(echo_app(Echo())) as upstream, Session(engine) as s:
        run = echo_run(engine, expert.id, upstream, ide_key="the-runs-own-key")
        ide = f"run-{run.id}.ide.{DOMAIN}"

        cookie = _sign_in(port, "expert@example.org")
        forged = {"X-Baseliner-Upstream": "127.0.0.1:1"}
        assert get(port, DOMAIN, "/dashboard", cookie).status_code == 200

        echoed = get(port, ide, "/echo/some/file?x=1", cookie, forged)
        assert echoed.status_code == 200, echoed.text[:500]
        seen = echoed.json()
        assert seen["raw_path"] == "/echo/some/file" and seen["query"] == "x=1"
        headers = dict(seen["headers"])
        assert headers["x-forwarded-host"] == f"{ide}:{port}"
        # The portal's session stays out of the IDE; the run's key is its only cookie.
        assert headers["cookie"] == "code-server-session=the-runs-own-key"
        # Caddy dialled what the portal named, not the address the browser's header forged.
        assert headers["x-baseliner-upstream"] == "127.0.0.1:1"
        name = {"Host": f"{ide}:{port}", "Cookie": cookie}
        with client(port) as http:
            body = b"x" * 300_000  # a file saved in the editor reaches code-server whole
            posted = http.post(
                "/echo/save", headers=name, content=body, extensions={"sni_hostname": ide}
            )
        assert posted.status_code == 200 and posted.json()["body"] == body.decode()
        with _websocket(port, ide, "/ws/term", cookie) as ws:
            assert json.loads(ws.recv())["path"] == "/ws/term"
            ws.send("typed")
            assert ws.recv() == "typed"

        anonymous = get(port, ide, "/")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == (
            f"https://{DOMAIN}:{port}/login?next=/runs/{run.id}"
        )
        assert get(port, ide, "/", _sign_in(port, "other@example.org")).status_code == 404
        with pytest.raises(httpx.ConnectError):  # no certificate for a name that is no run
            get(port, f"run-{run.id + 1000}.ide.{DOMAIN}", "/", cookie)

        # One app process dies without a word; Caddy routes around it.
        app1 = next(p for p in processes if p.name == "app1")
        os.killpg(app1.popen.pid, signal.SIGKILL)
        app1.popen.wait(10)
        answers = [get(port, DOMAIN, "/dashboard", cookie).status_code for _ in range(20)]
        assert answers == [200] * 20
        assert get(port, ide, "/echo/again", cookie).json()["raw_path"] == "/echo/again"
        survivor = str(next(p for p in processes if p.name == "app2").popen.pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s.expire_all()
            holders = {row.name: row.holder for row in s.exec(select(JobLease))}
            if all(h.split(":")[1] == survivor for h in holders.values()):
                break
            time.sleep(0.5)
        assert set(holders) == {"scoring", "scheduler", "task-tunnels"}
        assert all(h.split(":")[1] == survivor for h in holders.values()), holders
    del other
    engine.dispose()
