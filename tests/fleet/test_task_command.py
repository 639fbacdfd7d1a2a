"""The in-workspace ``task`` command, run as experts run it: the real wrapper script starting the
package under a ``python3`` from PATH, as a subprocess, against a small HTTP server.

That server (tests/fleet/fake_portal.py) stands in for the portal: the real ``/api/v1/task`` API
is being written in parallel with this command, and both sides code against the contract in
fleet/task_command/client.py. What is checked here is the command's side of it: what it sends,
what it prints, and its exit status.
"""

import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.task_command.install import stage, wrapper
from fleet.testing_sshd import free_port
from tests.fleet.fake_portal import PAUSED_DETAIL, FakePortal

PYTHON38 = Path("/root/.pyenv/versions/3.8.18/bin")  # the oldest python3 the command supports


@dataclass
class Task:
    """The ``task`` command installed in a scratch folder, with a home of its own."""

    script: Path
    home: Path
    portal: FakePortal

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        python_dir: Path | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess:
        path = os.environ.get("PATH", "/usr/bin:/bin")
        base = {
            "PATH": f"{python_dir}:{path}" if python_dir else path,
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "BASELINER_TASK_URL": self.portal.url,
            "BASELINER_TASK_TOKEN": self.portal.token,
        }
        return subprocess.run(
            [str(self.script), *args],
            input=input if input is not None else "",
            env={**base, **(env or {})},
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def portal() -> Iterator[FakePortal]:
    server = FakePortal().start()
    yield server
    server.stop()


@pytest.fixture
def task(tmp_path: Path, portal: FakePortal) -> Task:
    package = stage(tmp_path / "package")
    script = tmp_path / "bin" / "task"
    script.parent.mkdir()
    script.write_text(wrapper(str(package)))
    script.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    return Task(script, home, portal)


# -- task score ----------------------------------------------------------------------------


def test_score_submits_waits_and_prints_the_result(task: Task, portal: FakePortal) -> None:
    portal.polls_before_done = 2
    result = task("score")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Checkpoint 1 submitted at 1:02:03 of working time; scoring…",
        "Checkpoint 1: score 1.23457 (normalised 0.712), valid — speedup: 2.1x",
        "Working time at submission: 1:02:03",
    ]
    (posted,) = portal.requests("POST", "/checkpoints")
    assert posted.authorization == f"Bearer {portal.token}" and posted.body == {}
    polls = portal.requests("GET", "/checkpoints/1")
    assert len(polls) == 3 and all(p.query == {"wait": "30"} for p in polls)  # long polls


def test_score_shows_why_a_checkpoint_is_invalid(task: Task, portal: FakePortal) -> None:
    portal.outcome = {
        "status": "invalid",
        "score": None,
        "score_normalized": None,
        "valid": False,
        "message": "wrong values at n=4097 (expected 12, got 10)",
    }
    result = task("score")
    assert result.returncode == 0
    assert "Checkpoint 1: invalid: wrong values at n=4097 (expected 12, got 10)" in result.stdout
    assert "Working time at submission: 1:02:03" in result.stdout


def test_hidden_scores_are_not_shown(task: Task, portal: FakePortal) -> None:
    portal.visible = False
    portal.outcome = {**portal.outcome, "message": None}
    result = task("score")
    assert result.returncode == 0
    assert "Checkpoint 1: recorded; scores are hidden for this task" in result.stdout
    assert "1.23" not in result.stdout and "0.712" not in result.stdout


def test_a_checkpoint_that_could_not_be_scored_exits_1(task: Task, portal: FakePortal) -> None:
    portal.outcome = {
        "status": "error",
        "score": None,
        "valid": False,
        "message": {"error": "scoring took longer than its limit of 600 s"},
    }
    result = task("score")
    assert result.returncode == 1
    assert (
        "Checkpoint 1: could not be scored: scoring took longer than its limit of 600 s"
        in result.stdout
    )


def test_a_poll_that_fails_is_retried(task: Task, portal: FakePortal) -> None:
    portal.fail_polls = 1  # the tunnel was reconnecting, say
    result = task("score")
    assert result.returncode == 0, result.stderr
    assert "Checkpoint 1: score 1.23457" in result.stdout


def test_the_clock_paused_refuses_with_the_servers_words(task: Task, portal: FakePortal) -> None:
    portal.clock, portal.paused_by = "paused", ["manual"]
    result = task("score")
    assert result.returncode == 1
    assert result.stderr == f"task: {PAUSED_DETAIL}\n"
    assert result.stdout == ""


# -- errors --------------------------------------------------------------------------------


def test_a_rejected_token_says_so(task: Task, portal: FakePortal) -> None:
    result = task("status", env={"BASELINER_TASK_TOKEN": "blr_not-this-one"})
    assert result.returncode == 1
    assert "rejected this workspace's token (HTTP 401)" in result.stderr
    assert "tell your coordinator" in result.stderr


def test_an_ended_run_says_so(task: Task, portal: FakePortal) -> None:
    portal.ended = True
    result = task("score")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "task: This run has ended (The run ended at the time limit.); `task` no longer acts on it."
    )


def test_an_unreachable_portal_exits_2_with_what_to_do(task: Task) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = task("score", env={"BASELINER_TASK_URL": url, "BASELINER_TASK_FAILOVER_S": "0"})
    assert result.returncode == 2
    assert result.stderr == (
        f"task: Cannot reach the Baseliner portal at {url} (connection refused). Your work is"
        " safe; try again in a minute, or tell your coordinator.\n"
    )


def test_a_refused_connection_is_asked_again_at_the_address_written_meanwhile(
    task: Task, portal: FakePortal
) -> None:
    """A portal process died and another is taking over: the platform rewrites ~/.baseliner/url
    while the command waits, and the call goes through there."""
    config = task.home / ".baseliner"
    config.mkdir()
    (config / "url").write_text(f"http://127.0.0.1:{free_port()}\n")
    (config / "token").write_text(portal.token)
    rewrite = threading.Timer(1.0, lambda: (config / "url").write_text(portal.url))
    rewrite.start()
    try:
        result = task("status", env={"BASELINER_TASK_URL": "", "BASELINER_TASK_TOKEN": ""})
    finally:
        rewrite.cancel()
    assert result.returncode == 0, result.stderr
    assert result.stderr == "The portal is not answering; trying again...\n"


def test_a_portal_failure_exits_2(task: Task, portal: FakePortal) -> None:
    portal.broken = True
    result = task("status")
    assert result.returncode == 2
    assert result.stderr == (
        "task: The portal failed (HTTP 500): database is down. Your work is safe; try again in"
        " a minute, or tell your coordinator.\n"
    )


def test_polls_that_keep_failing_give_up_saying_the_checkpoint_is_safe(
    portal: FakePortal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """In process, with the pauses between tries shortened (about half a minute otherwise)."""
    from fleet.task_command import score
    from fleet.task_command.__main__ import main

    monkeypatch.setattr(score, "BACKOFF_S", (0, 0, 0))
    monkeypatch.setenv("BASELINER_TASK_URL", portal.url)
    monkeypatch.setenv("BASELINER_TASK_TOKEN", portal.token)
    portal.fail_polls = 10
    assert main(["score"]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("Checkpoint 1 submitted at 1:02:03")
    assert captured.err == (
        "task: The portal failed (HTTP 502): Bad gateway. Your work is safe; try again in a"
        " minute, or tell your coordinator. Checkpoint 1 was submitted and is scored all the"
        " same; `task log` shows its result later.\n"
    )
    assert len(portal.requests("GET", "/checkpoints/1")) == 4  # the first, then 3 more tries


def test_without_settings_it_says_what_is_missing(task: Task) -> None:
    result = task("status", env={"BASELINER_TASK_URL": "", "BASELINER_TASK_TOKEN": ""})
    assert result.returncode == 2
    assert "No portal address: BASELINER_TASK_URL is unset" in result.stderr
    assert f"{task.home}/.baseliner/url is missing" in result.stderr


def test_settings_come_from_the_home_folder(task: Task, portal: FakePortal) -> None:
    folder = task.home / ".baseliner"
    folder.mkdir(mode=0o700)
    (folder / "url").write_text(portal.url + "/\n")
    (folder / "token").write_text(portal.token + "\n")
    result = task("status", env={"BASELINER_TASK_URL": "", "BASELINER_TASK_TOKEN": ""})
    assert result.returncode == 0, result.stderr
    assert portal.requests("GET", "/status")[0].authorization == f"Bearer {portal.token}"


def test_usage_errors_exit_2(task: Task, portal: FakePortal) -> None:
    assert task().returncode == 2
    wrong = task("scroe")
    assert wrong.returncode == 2 and "invalid choice: 'scroe'" in wrong.stderr
    assert task("note").returncode == 2
    assert portal.seen == []


def test_help_lists_every_command(task: Task) -> None:
    result = task("--help", env={"BASELINER_TASK_URL": "", "BASELINER_TASK_TOKEN": ""})
    assert result.returncode == 0
    for name in ("score", "status", "log", "note", "pause", "resume", "submit", "instructions"):
        assert f"    {name}" in result.stdout


# -- task submit ---------------------------------------------------------------------------


def test_submit_answered_no_does_nothing(task: Task, portal: FakePortal) -> None:
    result = task("submit", input="no\n")
    assert result.returncode == 1
    assert (
        result.stdout
        == "This ends your run. Type yes to submit: Not submitted; your run goes on.\n"
    )
    assert portal.requests("POST", "/submit") == []


def test_submit_with_no_answer_at_all_does_nothing(task: Task, portal: FakePortal) -> None:
    result = task("submit", input="")
    assert result.returncode == 1
    assert portal.requests("POST", "/submit") == []


def test_submit_answered_yes_waits_for_the_final_score(task: Task, portal: FakePortal) -> None:
    result = task("submit", input="yes\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("This ends your run. Type yes to submit: Final checkpoint 1")
    assert "submitted at 1:02:03 of working time; your run has ended." in lines[0]
    assert lines[1] == "Checkpoint 1: score 1.23457 (normalised 0.712), valid — speedup: 2.1x"
    (posted,) = portal.requests("POST", "/submit")
    assert posted.body == {"confirm": True}


def test_submit_yes_when_the_ended_run_cannot_be_polled(task: Task, portal: FakePortal) -> None:
    portal.ended_after_submit = True
    result = task("submit", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Final checkpoint 1 submitted" in result.stdout
    assert "The final score will appear in the portal once it is scored." in result.stdout


# -- the other commands ----------------------------------------------------------------------


def test_note_prints_the_servers_time(task: Task, portal: FakePortal) -> None:
    result = task("note", "tried", "BLOCK=1024; slower")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("Note saved at 1:02:03 of working time (2025-05-01 14:03:07 UTC).\n")
    assert portal.notes[0]["text"] == "tried BLOCK=1024; slower"


def test_status_running(task: Task, portal: FakePortal) -> None:
    for _ in range(4):
        assert task("score").returncode == 0
    portal.checkpoints[0].update(status="invalid", valid=False, message="nan in output")
    result = task("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "Run 7 · triton_cumsum/main · active",
        "Clock: running",
        "Working time: 1:02:03",
        "Time left: 6:57:57 of 8:00:00",
    ]
    assert lines[4] == "Latest checkpoints:"
    assert [line.split()[0] for line in lines[5:]] == ["#2", "#3", "#4"]  # the last three
    assert lines[5] == "  #2   1:02:03  score 1.23457 (normalised 0.712), valid — speedup: 2.1x"


def test_status_warns_near_the_limit_and_shows_idle_time(task: Task, portal: FakePortal) -> None:
    portal.working_s, portal.warning_minutes, portal.idle_excluded_s = 8 * 3600 - 600, 15, 1250
    lines = task("status").stdout.splitlines()
    assert lines[3:6] == [
        "Time left: 0:10:00 of 8:00:00",
        "Warning: 15 minutes or less left. At the limit your task folder is scored as your final"
        " checkpoint and the workspace stops.",
        "Idle time excluded: 0:20:50",
    ]


def test_status_paused_says_why(task: Task, portal: FakePortal) -> None:
    portal.clock, portal.paused_by, portal.time_limit_s = "paused", ["manual", "scoring"], None
    result = task("status")
    assert result.returncode == 0
    assert (
        "Clock: paused (you paused it; `task resume` starts it again;"
        " a checkpoint is being scored)" in result.stdout
    )
    assert "Time left: no time limit" in result.stdout
    assert "No checkpoints yet" in result.stdout


def test_log_prints_a_table_and_the_notes(task: Task, portal: FakePortal) -> None:
    assert task("score").returncode == 0
    portal.outcome = {"status": "invalid", "valid": False, "message": "wrong dtype"}
    portal.working_s = 7384.5
    assert task("score").returncode == 0
    assert task("note", "switched to a two-pass scan").returncode == 0
    result = task("log")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "#  working  submitted                result",
        "1  1:02:03  2025-05-01 14:03:07 UTC  score 1.23457 (normalised 0.712), valid"
        " — speedup: 2.1x",
        "2  2:03:04  2025-05-01 14:03:07 UTC  invalid: wrong dtype",
        "",
        "Notes:",
        "   2:03:04  switched to a two-pass scan",
    ]


def test_pause_and_resume(task: Task, portal: FakePortal) -> None:
    paused = task("pause")
    assert paused.returncode == 0
    assert paused.stdout == (
        "Clock paused at 1:02:03 of working time. `task resume` when you are back.\n"
    )
    assert task("score").returncode == 1  # refused while paused
    resumed = task("resume")
    assert resumed.stdout == "Clock running again from 1:02:03 of working time.\n"
    portal.paused_by = ["manual", "idle"]
    still = task("resume")
    assert "the clock is still paused for another reason" in still.stdout


def test_instructions(task: Task) -> None:
    result = task("instructions")
    assert (result.returncode, result.stdout) == (0, "Make the prefix sum fast.\n")


# -- where it runs -------------------------------------------------------------------------


def test_a_module_in_the_working_folder_cannot_stand_in(task: Task, tmp_path: Path) -> None:
    """Experts' folders hold files like json.py; the command must still use the standard one."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "json.py").write_text("raise SystemExit('the wrong json')\n")
    (work / "task_command.py").write_text("raise SystemExit('the wrong package')\n")
    result = task("status", cwd=work, env={"PYTHONPATH": str(work)})
    assert result.returncode == 0, result.stderr


def test_proxy_settings_are_ignored(task: Task) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = task("status", env={"http_proxy": dead, "HTTP_PROXY": dead, "all_proxy": dead})
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not (PYTHON38 / "python3").exists(), reason="no Python 3.8 here")
def test_it_runs_on_python_3_8(task: Task, portal: FakePortal) -> None:
    version = task("--help", python_dir=PYTHON38)
    assert version.returncode == 0, version.stderr
    result = task("score", python_dir=PYTHON38)
    assert result.returncode == 0, result.stderr
    assert "Checkpoint 1: score 1.23457 (normalised 0.712), valid" in result.stdout
    assert task("log", python_dir=PYTHON38).returncode == 0
    assert task("note", "old python", python_dir=PYTHON38).returncode == 0


def test_every_module_parses_as_python_3_8() -> None:
    import ast

    from fleet.task_command.install import package_files

    for name, source in package_files().items():
        ast.parse(source, filename=name, feature_version=(3, 8))


# -- task model ----------------------------------------------------------------------------


def test_model_says_how_to_reach_the_model(task: Task, portal: FakePortal) -> None:
    result = task("model")
    assert result.returncode == 0, result.stderr
    assert "Model: baseliner-standin" in result.stdout
    assert "1,234 of 2,000,000 tokens used" in result.stdout
    assert f"{portal.url}/api/v1/task/model/v1" in result.stdout
    assert 'eval "$(task model env)"' in result.stdout
    assert portal.token not in result.stdout  # the key is printed only for eval


def test_model_env_sets_what_the_openai_client_reads(task: Task, portal: FakePortal) -> None:
    result = task("model", "env")
    assert result.returncode == 0, result.stderr
    shell = subprocess.run(
        ["bash", "-c", result.stdout + 'printf "%s\\n%s\\n" "$OPENAI_BASE_URL" "$OPENAI_API_KEY"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.splitlines() == [f"{portal.url}/api/v1/task/model/v1", portal.token]


def test_model_in_an_environment_without_one_says_so(task: Task, portal: FakePortal) -> None:
    portal.model = False
    result = task("model", "env")
    assert result.returncode == 1 and result.stdout == ""
    assert "lends no model" in result.stderr
