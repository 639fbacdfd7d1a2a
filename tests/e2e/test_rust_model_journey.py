"""The development model in the browser: the expert of a rust_scaffolding run, in VS Code's
terminal, sets the OpenAI variables with `eval "$(task model env)"`, calls the model with a
Python one-liner (through the portal's gateway, to the stand-in the portal starts), tries the
starting scaffold on a development problem (`python3 scaffold.py 1`), scores, and sees the
tokens used on the run page: in total of the budget, and in the checkpoint's row."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from baselines.users import Role
from environments.catalogue import BUILTIN_DIR
from tests.assigned import approve_and_assign
from tests.browser import run_in_terminal, sign_in
from tests.hosts import ready_host

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("bwrap") or not Path("/usr/bin/rustc").exists(),
    reason="needs root (workspaces are unix users), bubblewrap and Debian's rustc",
)

# Standard library only: the workspace's python3 need not have the openai package.
ONE_LINER = (
    'python3 -c "import json,os,urllib.request as u; '
    "r=u.Request(os.environ['OPENAI_BASE_URL']+'/chat/completions', "
    "json.dumps({'model':'any','messages':[{'role':'user','content':'Solve Rain Gauge Totals'}]})"
    ".encode(), {'Authorization':'Bearer '+os.environ['OPENAI_API_KEY'],"
    "'Content-Type':'application/json'}); "
    "a=json.load(u.urlopen(r)); print('MODEL', a['model'], 'TOKENS', a['usage']['total_tokens'])\""
)


@pytest.fixture
def settings(settings, monkeypatch):
    settings.environment_dirs = str(BUILTIN_DIR)
    settings.scoring_worker = True
    monkeypatch.setenv("BASELINER_RUST_PROBLEMS", "2")
    monkeypatch.setenv("BASELINER_RUST_SCORE_TIMEOUT_S", "300")
    return settings


def test_the_expert_calls_the_model_from_the_terminal_and_sees_the_tokens(
    app, engine, make_user, live_server, page, shot
):
    expert = make_user(Role.expert, name="Mona Model", email="mona@example.org")
    coordinator = make_user(Role.coordinator)
    ready_host(engine)
    approve_and_assign(engine, expert, coordinator, "rust_scaffolding/main")

    sign_in(page, expert.email)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("active", timeout=120_000)
    run_url = page.url
    expect(page.locator("#model-use")).to_contain_text("0 of 2,000,000 development tokens used")
    with page.context.expect_page() as tab:
        page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=45_000)
    expect(ide.locator(".explorer-folders-view")).to_contain_text("scaffold.py", timeout=30_000)
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    terminal = ide.locator(".xterm-rows").first

    run_in_terminal(ide, "task model")
    expect(terminal).to_contain_text("Development budget: 0 of 2,000,000", timeout=30_000)
    time.sleep(0.5)
    shot("terminal-task-model", on=ide)
    run_in_terminal(ide, 'eval "$(task model env)" && echo "base: $OPENAI_BASE_URL"')
    expect(terminal).to_contain_text("/api/v1/task/model/v1", timeout=30_000)
    run_in_terminal(ide, "clear")
    run_in_terminal(ide, ONE_LINER)
    expect(terminal).to_contain_text(
        re.compile(r"MODEL baseliner-standin TOKENS \d+"), timeout=60_000
    )
    time.sleep(0.5)
    shot("terminal-model-call", on=ide)

    # The starting scaffold on a development problem, with the same model (its trial path).
    run_in_terminal(ide, "clear")
    run_in_terminal(ide, "python3 scaffold.py 1")
    expect(terminal).to_contain_text(
        re.compile(r"solved \d/1 development problems"), timeout=120_000
    )
    run_in_terminal(ide, "task model")
    expect(terminal).to_contain_text(re.compile(r"Development budget: [\d,]+ of"), timeout=30_000)
    said = re.search(r"Development budget: ([\d,]+) of", terminal.inner_text())
    tokens = int(said.group(1).replace(",", ""))
    assert tokens > 0
    time.sleep(0.5)
    shot("terminal-scaffold-trial", on=ide)

    # A checkpoint records what was used since the start.
    run_in_terminal(ide, "task score")
    expect(terminal).to_contain_text("Checkpoint 1: ", timeout=240_000)
    time.sleep(0.5)
    shot("terminal-score", on=ide)

    page.bring_to_front()
    page.goto(run_url)
    expect(page.locator("#model-tokens")).to_have_text(f"{tokens:,}")
    row = page.locator("#checkpoints tbody tr").first
    expect(row.locator("td.model-tokens")).to_have_text(f"{tokens:,}")
    shot("run-page-tokens")

    page.get_by_role("button", name="Stop workspace").click()
    page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
    shot("run-finished")
