"""Nothing that names a file reaches outside where it should.

What reaches the filesystem from a request: static files (``/static``, ``/static/swagger``),
checkpoint snapshots (``/runs/<run>/checkpoints/<seq>/snapshot`` and the diff between two, read
from the content-addressed store in the data dir), uploaded analytics imports (saved under a
temporary folder by their cleaned names), environments (looked up by name in the catalogue, never
joined into a path) and the IDE (proxied to the run's own code-server). Proves that:

- every path parameter of every route (walked from ``app.routes``), given ``../``, absolute
  paths, URL-encoded and double-encoded ``%2e%2e%2f``, backslashes, overlong UTF-8 and NUL bytes,
  answers 4xx, never 5xx and never a file's contents;
- literal ``../`` (sent raw, as no HTTP client would normalise it) and symlinks out of the static
  folder find nothing;
- a crafted snapshot (symlinks and hard links to files on the portal's machine, members named
  ``../x`` or ``/x``) is diffed from inside the tar only and downloaded byte for byte as stored;
- an IDE address with ``..`` in it reaches only that run's own code-server;
- an upload named ``../../x``, ``/abs/x`` or with a NUL byte is written nowhere but the import's
  own folder;
- a host's SSH key path, which names any file on the portal's machine, is only ever tried as a
  key: what the file holds is never shown or logged.
"""

import logging
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from baselines import run_tokens, tokens
from baselines.users import Role, User
from tests.conftest import csrf_token, login
from tests.ide.servers import serve
from tests.security.records import (
    file_member,
    link_member,
    live_run,
    scored_checkpoint,
    tar_of,
)
from timetracking.utc import utcnow
from webapp import app as app_module
from webapp.app import create_app
from webapp.templating import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
# A literal ".." is sent raw in the tests below (an HTTP client removes it before sending).
PAYLOADS = [
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "....%2f%2f....%2f%2fetc%2fpasswd",
    "..%5c..%5cetc%5cpasswd",
    "%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
    "%00",
    "passwd%00.csv",
    "..%00",
]
PARAM = re.compile(r"\{[^}]+\}")


def leaked(body: bytes, *canaries: str) -> list[str]:
    """Which well-known file contents (or canaries) appear in an answer."""
    marks = ["root:x:0:0", "[build-system]", '"""All configuration in one place', *canaries]
    return [mark for mark in marks if mark.encode() in body]


def _token(engine, user: User) -> str:
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, user.id), "paths", utcnow(), user.id)
        s.commit()
    return plain


def test_no_path_parameter_reaches_a_file(app, client, engine, make_user, settings) -> None:
    admin, expert = make_user(Role.admin), make_user(Role.expert)
    run_id = live_run(engine, expert.id, port=1)
    with Session(engine) as s:
        run_token = run_tokens.issue(s, run_id, utcnow())
        s.commit()
    bearer = {"Authorization": f"Bearer {_token(engine, admin)}"}
    task_bearer = {"Authorization": f"Bearer {run_token}"}
    login(client, admin)
    form = {"csrf_token": csrf_token(client, "/admin/users")}
    routes = [
        (method, path)
        for path, route in _app_routes(app)
        if isinstance(route, APIRoute) and "{" in path and not path.startswith("/ide/")
        for method in sorted(route.methods & {"GET", "POST"})
    ]
    assert len(routes) >= 40, routes
    problems = []
    for method, template in routes:
        for payload in PAYLOADS:
            url = PARAM.sub(payload, template)
            headers = task_bearer if url.startswith("/api/v1/task/") else bearer
            response = client.request(
                method,
                url,
                data=form if method == "POST" and not url.startswith("/api/") else None,
                headers=headers if url.startswith("/api/") else None,
            )
            if not 400 <= response.status_code < 500:
                problems.append(f"{method} {url}: {response.status_code}")
            if found := leaked(response.content, settings.session_secret):
                problems.append(f"{method} {url}: {found} in the answer")
    assert not problems, "\n".join(problems)


def _app_routes(app) -> list[tuple[str, object]]:
    from tests.webapp.test_route_matrix import _app_routes as walk

    return walk(app)


def test_query_parameters_naming_tasks_find_none(client, make_user) -> None:
    login(client, make_user(Role.analyst))
    for payload in ("../../../../etc/passwd", "/etc/passwd", "%2e%2e%2fwarmup", "warmup%00"):
        for path in ("/analyst/data/runs.csv", "/analyst/plots/score-over-time.png"):
            response = client.get(f"{path}?task={payload}")
            assert 400 <= response.status_code < 500, (path, payload, response.status_code)
            assert not leaked(response.content), (path, payload)


def _raw_get(base: str, target: str, cookie: str = "") -> tuple[int, bytes]:
    """GET ``target`` exactly as written (HTTP clients would remove the dot segments)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        if cookie:
            lines.append(f"Cookie: baseliner_session={cookie}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


@pytest.fixture
def static_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """The app's static folder, copied, with symlinks out of it (to a canary file beside it, and
    to the folder above); the app serves this copy."""
    canary = secrets.token_hex(16)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text(canary)
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static)
    (static / "canary.txt").symlink_to(outside / "canary.txt")
    (static / "up").symlink_to(tmp_path)
    monkeypatch.setattr(app_module, "STATIC_DIR", static)
    yield static, canary


def test_static_files_stay_in_their_folder(settings, engine, static_copy) -> None:
    _, canary = static_copy
    app = create_app(settings, migrate=False)
    targets = [
        "/static/../../pyproject.toml",
        "/static/../webapp/settings.py",
        "/static/./../../pyproject.toml",
        "/static/swagger/../../../../../../etc/passwd",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/..%2f..%2fpyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static/swagger/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/static/..%5c..%5cpyproject.toml",
        "/static/style.css%00.txt",
        "/static/%00",
        "/static/canary.txt",  # a symlink to a file outside
        "/static/up/outside/canary.txt",  # through a symlink to the folder above
    ]
    with serve(app) as base:
        assert _raw_get(base, "/static/style.css")[0] == 200
        for target in targets:
            status, answer = _raw_get(base, target)
            assert 400 <= status < 500, (target, status)
            assert not leaked(answer, canary), target


def _named_upstream(name: str) -> FastAPI:
    """A stand-in for one run's code-server that says whose it is and what path it was asked."""
    app = FastAPI()

    @app.api_route("/{rest:path}", methods=["GET"])
    def echo(request: Request, rest: str) -> JSONResponse:
        return JSONResponse({"upstream": name, "path": request.scope["raw_path"].decode()})

    return app


def test_ide_addresses_reach_only_the_runs_own_ide(app, engine, make_user) -> None:
    mine, theirs = make_user(Role.expert), make_user(Role.expert)
    with (
        serve(_named_upstream("mine"), health="/") as a,
        serve(_named_upstream("theirs"), health="/") as b,
    ):
        my_run = live_run(engine, mine.id, int(a.rsplit(":", 1)[1]))
        their_run = live_run(engine, theirs.id, int(b.rsplit(":", 1)[1]))
        with TestClient(app, follow_redirects=False) as client:
            login(client, mine)
            cookie = client.cookies["baseliner_session"]
            for path in (
                f"/ide/{my_run}/%2e%2e/{their_run}/",
                f"/ide/{my_run}/%2e%2e%2f{their_run}%2f",
                f"/ide/{my_run}/..%2f..%2fide%2f{their_run}%2f",
            ):
                response = client.get(path)
                assert response.status_code == 200, path
                assert response.json()["upstream"] == "mine", path
            assert client.get(f"/ide/{their_run}/..%2f{my_run}%2f").status_code == 404
        with serve(app) as portal:
            for target in (f"/ide/{my_run}/../{their_run}/", f"/ide/{my_run}/../../etc/passwd"):
                status, answer = _raw_get(portal, target, cookie)
                assert status == 200 and b'"upstream":"mine"' in answer, (target, answer[-200:])
            status, answer = _raw_get(portal, f"/ide/{their_run}/../{my_run}/", cookie)
            assert status == 404 and b"theirs" not in answer


def test_a_crafted_snapshot_is_read_from_inside_the_tar_only(
    client, engine, make_user, settings, tmp_path
) -> None:
    canary = secrets.token_hex(16)
    (settings.data_dir / "canary.txt").write_text(canary)
    expert, coordinator = make_user(Role.expert), make_user(Role.coordinator)
    run_id = live_run(engine, expert.id, port=1)
    first = tar_of([file_member("./notes.md", "tile = 1024\n")])
    second = tar_of(
        [
            file_member("./notes.md", "tile = 4096\n"),
            link_member("./key", str(settings.data_dir / "canary.txt")),
            link_member("./up", "../../../../../../etc/passwd"),
            link_member("./hard", "/etc/passwd", hard=True),
            link_member("./hard-up", "../../../../../../etc/passwd", hard=True),
            file_member("../../escape.txt", "escaped\n"),
            file_member("/abs-escape.txt", "escaped\n"),
        ]
    )
    scored_checkpoint(engine, settings.data_dir, run_id, 1, first)
    scored_checkpoint(engine, settings.data_dir, run_id, 2, second)
    login(client, coordinator)

    diff = client.get(f"/runs/{run_id}/diff?a=1&b=2")
    assert diff.status_code == 200
    assert "+tile = 4096" in diff.text and "escape.txt" in diff.text
    assert not leaked(diff.content, canary)
    download = client.get(f"/runs/{run_id}/checkpoints/2/snapshot")
    assert download.status_code == 200 and download.content == second
    assert not any(p.name.endswith("escape.txt") for p in tmp_path.rglob("*"))
    assert not Path("/abs-escape.txt").exists()


def test_an_upload_is_saved_by_its_cleaned_name_only(client, engine, make_user, tmp_path) -> None:
    from tests.webapp.test_route_matrix import AGENT_LOG, AGENT_RUNS

    analyst = make_user(Role.analyst)
    bearer = {"Authorization": f"Bearer {_token(engine, analyst)}"}
    tag = secrets.token_hex(6)
    names = [
        f"../../../../../../{tmp_path}/up-{tag}.csv",
        f"{tmp_path}/abs-{tag}.csv",
        f"..%2f..%2f{tag}.csv",
        f"..\\..\\win-{tag}.csv",
        f"nul-{tag}\x00.csv",
        "..",
        ".",
    ]
    for name in names:
        files = {
            "runs": (name, AGENT_RUNS.encode(), "text/csv"),
            "score_log": (name, AGENT_LOG.encode(), "text/csv"),
        }
        response = client.post("/api/v1/analytics/import", files=files, headers=bearer)
        # Both uploads under one odd name: each is saved by its cleaned name, and imported.
        assert response.status_code == 200, (name, response.status_code, response.text)
        assert "baseliner-import-" not in response.text, name  # the server's folder stays private
    found = [p for p in tmp_path.rglob(f"*{tag}*")] + list(Path("/").glob(f"*{tag}*"))
    found += list(ROOT.rglob(f"*{tag}*"))
    assert not found, found


def test_a_host_key_path_is_read_only_as_a_key(client, make_user, sshd, tmp_path, caplog):
    """A coordinator names the SSH private key by its path on the portal's machine: whatever
    file it names, the portal only tries it as a key, and no line of it is ever shown or logged
    (a mistyped path might name a secret)."""
    canary = secrets.token_hex(16)
    armour = "-----{} {} PRIVATE KEY-----\n"
    files = {
        "plain": f"{canary}\n",
        **{
            kind.lower(): armour.format("BEGIN", kind) + canary + "\n" + armour.format("END", kind)
            for kind in ("OPENSSH", "RSA", "EC")
        },
    }
    caplog.set_level(logging.DEBUG)
    login(client, make_user(Role.coordinator))
    for n, (kind, content) in enumerate(files.items()):
        (tmp_path / kind).write_text(content)
        form = {
            "name": f"probe-{n}", "driver": "ssh", "address": sshd.address,
            "port": str(sshd.port), "username": sshd.username, "key_path": str(tmp_path / kind),
            "backend": "process", "max_workspaces": "1", "host_key": sshd.host_key_line,
        }  # fmt: skip
        added = client.post(
            "/coordinator/hosts",
            data={**form, "csrf_token": csrf_token(client, "/coordinator/hosts")},
        )
        assert added.status_code == 303, added.text[:500]
    page = client.get("/coordinator/hosts")
    assert page.status_code == 200 and page.text.count("probe-") >= len(files)
    assert "down" in page.text
    assert canary not in page.text and canary not in caplog.text
