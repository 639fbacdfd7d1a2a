"""The editor extension outside the browser: its batching and settings run under the Node that
runs code-server, its report reaches the real portal, it is installed on a host once per version,
and code-server takes the copy a workspace gets (next to extensions the expert installs)."""

import json
import os
import secrets
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from baselines import run_tokens
from baselines.runs import Run, RunStatus
from baselines.users import Role
from fleet import codeserver, editor_extension_setup, host_packages
from fleet.backends.common import add_user, preinstall, remove_user
from fleet.drivers.base import Driver
from fleet.drivers.local import LocalDriver
from tests.conftest import fixed_now, login
from tests.vsix import vsix
from timetracking.activity import Activity
from timetracking.utc import utcnow
from webapp.templating import hms

pytestmark = pytest.mark.host  # runs once: the database is incidental here

EXTENSION = editor_extension_setup.SOURCE / "extension.js"
NODE = codeserver.node_bin_dir() / "node"
CODE_SERVER = codeserver.code_server_bin()
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="installs under /opt and makes users")


def node(script: str, env: dict[str, str] | None = None) -> object:
    """Run a Node script that has ``ext`` (the extension's module) and print()s one JSON value."""
    if not os.access(NODE, os.X_OK):
        pytest.skip(f"{NODE} is not installed (make install)")
    prelude = (
        f"const ext = require({json.dumps(str(EXTENSION))});\n"
        "const print = (value) => process.stdout.write(JSON.stringify(value));\n"
    )
    result = subprocess.run(
        [str(NODE), "-e", prelude + script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_first_activity_goes_at_once_and_later_ones_wait_for_the_interval() -> None:
    sent = node("""
        const t0 = Date.now();
        const sent = [];
        const reporter = new ext.Reporter(async (kind) => {
            sent.push([kind, Date.now() - t0]);
            if (sent.length === 2) throw new Error("the portal is down");
        }, 500);
        reporter.note("focus");
        setTimeout(() => ["focus", "edit", "terminal"].forEach((k) => reporter.note(k)), 50);
        setTimeout(() => reporter.note("terminal"), 1600);  // a quiet spell, then work again
        setTimeout(() => { reporter.note("edit"); reporter.dispose(); }, 1700);
        setTimeout(() => print(sent), 2600);
    """)
    kinds = [kind for kind, _ in sent]
    # At once; then the strongest of the batch, once the interval is over (a failed report
    # does not stop the next); then at once after a quiet spell; nothing after dispose().
    assert kinds == ["focus", "edit", "terminal"], sent
    assert sent[0][1] < 400 and sent[1][1] >= 490 and sent[2][1] >= 1600, sent


def test_nothing_is_sent_while_nobody_works() -> None:
    sent = node("""
        const sent = [];
        new ext.Reporter(async (kind) => sent.push(kind), 100);
        setTimeout(() => print(sent), 400);
    """)
    assert sent == []


def test_settings_come_from_the_task_commands_files_unless_the_environment_says(
    tmp_path: Path,
) -> None:
    folder = tmp_path / ".baseliner"
    folder.mkdir()
    (folder / "url").write_text("http://127.0.0.1:8123\n")
    (folder / "token").write_text("blr_from-the-file\n")
    script = "print([ext.readSettings(), ext.readSettings({HOME: '/nonexistent'})]);"
    from_files, missing = node(script, env={"HOME": str(tmp_path)})
    assert from_files == {"url": "http://127.0.0.1:8123", "token": "blr_from-the-file"}
    assert missing == {"url": "", "token": ""}
    overridden = node(
        "print(ext.readSettings());",
        env={
            "HOME": str(tmp_path),
            "BASELINER_TASK_URL": "http://127.0.0.1:9",
            "BASELINER_TASK_TOKEN": "blr_from-env",
        },
    )
    assert overridden == {"url": "http://127.0.0.1:9", "token": "blr_from-env"}


@pytest.fixture
def portal(app) -> Iterator[str]:
    """The real app, served by uvicorn on a free loopback port."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not (server.started and server.servers):
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/"  # a trailing slash, as a hand-written address may have
    server.should_exit = True
    thread.join(15)


def test_a_report_reaches_the_portal_as_extension_activity(portal, engine, make_user) -> None:
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run = Run(
            expert_id=expert.id,
            environment="warmup/main",
            status=RunStatus.active,
            created_at=utcnow(),
            started_at=utcnow() - timedelta(minutes=75),
            time_limit_s=7200,
        )
        s.add(run)
        s.flush()
        run_id, token = run.id, run_tokens.issue(s, run.id, utcnow())
        s.commit()
    answers = node(f"""
        const url = {json.dumps(portal)};
        Promise.all([
            ext.postJson(url, {json.dumps(token)}, {{kind: "edit"}}, 10000),
            ext.postJson(url, "blr_not-a-token", {{kind: "edit"}}, 10000),
            ext.postJson(url, {json.dumps(token)}, {{kind: "typing"}}, 10000),
            ext.postJson("http://127.0.0.1:9", "blr_x", {{kind: "edit"}}, 10000)
                .then(() => "answered", (error) => error.code),
        ]).then(print);
    """)
    ok, bad_token, bad_kind, unreachable = answers
    assert ok["status"] == 200
    assert ok["body"]["recorded"] is True
    assert 74 * 60 < ok["body"]["working_s"] < 76 * 60
    assert ok["body"]["warning_minutes"] == 60
    assert node(f"print(ext.hms({ok['body']['working_s']}));").startswith("1:15:")
    assert bad_token["status"] == 401 and "not valid" in bad_token["body"]["detail"]
    assert bad_kind["status"] == 422 and bad_kind["body"]["detail"][0]["field"] == "kind"
    assert unreachable == "ECONNREFUSED"
    with Session(engine) as s:
        rows = s.exec(select(Activity).where(Activity.run_id == run_id)).all()
        assert [row.source for row in rows] == ["extension"]


def test_the_status_bar_formats_working_time_as_the_portal_does() -> None:
    """46 seconds read "0:00" in the status bar while the run page said 0:00:46: both now
    write H:MM:SS with the same rounding (webapp.templating.hms)."""
    values = [0, 0.4, 46, 59.6, 60, 3599.5, 3600, 3900, 36000 + 61, -5]
    shown = node(f"print({json.dumps(values)}.map(ext.hms));")
    assert shown == [hms(max(v, 0)) for v in values]
    assert shown[2] == "0:00:46" and shown[5] == "1:00:00"


def test_the_status_bar_clock_ticks_while_running_and_stands_still_when_paused() -> None:
    """Between the portal's readings the status bar counts on by itself, as the run page does;
    paused, it shows the reading as it is."""
    running, paused, limit = node("""
        let t = 1000;
        const view = new ext.ClockView(() => t);
        view.update({clock: "running", working_s: 46, time_left_s: 100, status: "active",
                     paused_by: []});
        t += 14000;
        const running = [view.display().text, view.leftS()];
        view.update({clock: "paused", working_s: 60, paused_by: ["manual"], time_left_s: 86});
        t += 30000;
        const paused = [view.display().text, view.display().tooltip];
        view.update({clock: "running", working_s: 60, time_left_s: 2, status: "active"});
        t += 10000;
        print([running, paused, view.leftS()]);
    """)
    assert running == ["$(watch) 0:01:00", 86]
    assert paused[0] == "$(debug-pause) 0:01:00 paused"
    assert "Clock paused (manual)" in paused[1] and "0:01:26" in paused[1]
    assert limit == 0  # never below zero


def test_the_status_bar_reads_the_same_clock_as_the_run_page(
    portal, app, engine, make_user
) -> None:
    """GET /api/v1/task/clock (what the extension reads at start and every 30 s) answers the
    run page's own reading, and reading it is not activity."""
    expert = make_user(Role.expert)
    now = utcnow()
    fixed_now(app, now)
    with Session(engine) as s:
        started = now - timedelta(seconds=46)
        run = Run(expert_id=expert.id, environment="warmup/main", status=RunStatus.active,
                  created_at=now, started_at=started, time_limit_s=3600)  # fmt: skip
        s.add(run)
        s.flush()
        run_id, token = run.id, run_tokens.issue(s, run.id, now)
        s.commit()
    answer = node(f"ext.getClock({json.dumps(portal)}, {json.dumps(token)}, 10000).then(print);")
    assert answer["status"] == 200
    assert answer["body"]["working_s"] == 46.0 and answer["body"]["status"] == "active"
    assert node(f"print(ext.hms({answer['body']['working_s']}));") == "0:00:46"
    with TestClient(app, follow_redirects=False) as client:
        login(client, expert)
        page_reading = client.get(f"/runs/{run_id}/clock").json()
    assert page_reading["working_s"] == answer["body"]["working_s"]
    assert page_reading["time_left_s"] == answer["body"]["time_left_s"]
    with Session(engine) as s:
        assert s.exec(select(Activity).where(Activity.run_id == run_id)).all() == []


def _mode_and_owner(path: Path) -> tuple[str, int]:
    stat = path.stat()
    return oct(stat.st_mode & 0o777)[2:], stat.st_uid


@root_only
def test_installed_once_per_version_root_owned_and_world_readable(driver: Driver) -> None:
    installed = editor_extension_setup.install_on_host(driver, "root")
    source = Path(installed.source)
    assert source.name == installed.folder == "baseliner.activity-1.0.0"
    assert source.parent.name == editor_extension_setup.version_hash()
    assert _mode_and_owner(source.parent) == ("755", 0)
    for name, content in editor_extension_setup.files().items():
        assert (source / name).read_bytes() == content
        assert _mode_and_owner(source / name) == ("644", 0)
    marker = source.parent / host_packages.MARKER
    before = marker.stat().st_mtime_ns
    assert editor_extension_setup.install_on_host(driver, "root") == installed
    assert marker.stat().st_mtime_ns == before  # already there: nothing copied again


@root_only
def test_two_starts_at_once_install_it_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(editor_extension_setup, "PACKAGES", str(tmp_path / "editor-extension"))
    driver = LocalDriver()
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(editor_extension_setup.install_on_host(driver, "root"))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 3 and len(set(results)) == 1
    folders = [p.name for p in (tmp_path / "editor-extension").iterdir()]
    assert folders == [editor_extension_setup.version_hash()]  # no partial copy left


@pytest.fixture
def user() -> Iterator[tuple[str, str]]:
    """A scratch workspace user made as the process runtime makes theirs."""
    driver = LocalDriver()
    name = f"bl-ext-{secrets.token_hex(4)}"
    home = f"/home/{name}"
    driver.run(add_user(name, home))
    try:
        yield name, home
    finally:
        driver.run(remove_user(name, home), check=False)


def _code_server(user: str, home: str, *args: str) -> str:
    if not os.access(CODE_SERVER, os.X_OK):
        pytest.skip(f"{CODE_SERVER} is not installed (make install)")
    extensions = f"{home}/.local/share/code-server/extensions"
    command = shlex.join(
        [str(CODE_SERVER), "--extensions-dir", extensions, "--user-data-dir",
         f"{home}/.local/share/code-server", *args]
    )  # fmt: skip
    result = subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", f"HOME={home}",
         f"PATH={codeserver.node_bin_dir()}:/usr/bin:/bin", "sh", "-c", command],
        capture_output=True, text=True, timeout=120, cwd="/",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Less its own log lines ("[<time>] info  Wrote default config file ...").
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith("["))


@root_only
def test_code_server_takes_the_copy_and_the_expert_can_add_their_own(
    user: tuple[str, str], tmp_path: Path
) -> None:
    name, home = user
    installed = editor_extension_setup.install_on_host(LocalDriver(), "root")
    extensions = f"{home}/.local/share/code-server/extensions"
    LocalDriver().run(
        f"{preinstall((installed,), extensions, extensions)} && chown -R {name}: {home}"
    )
    listed = _code_server(name, home, "--list-extensions", "--show-versions")
    assert listed.split() == ["baseliner.activity@1.0.0"]

    # The expert installs an extension of their own: ours stays, and both are theirs.
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    manifest = {"name": "notes", "publisher": "ida", "version": "0.1.0",
                "engines": {"vscode": "^1.90.0"}, "main": "./extension.js"}  # fmt: skip
    (theirs / "package.json").write_text(json.dumps(manifest))
    (theirs / "extension.js").write_text("exports.activate = () => {};\n")
    package = Path(home, "theirs.vsix")  # in the task folder, as if uploaded there
    package.write_bytes(vsix(theirs))
    os.chown(package, Path(home).stat().st_uid, Path(home).stat().st_gid)
    _code_server(name, home, "--install-extension", str(package))
    listed = _code_server(name, home, "--list-extensions", "--show-versions")
    assert sorted(listed.split()) == ["baseliner.activity@1.0.0", "ida.notes@0.1.0"]
    owned = Path(extensions, installed.folder, "extension.js").stat().st_uid
    assert owned == Path(home).stat().st_uid
