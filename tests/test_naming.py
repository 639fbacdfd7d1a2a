"""Installations sharing a machine never touch each other's workspaces: the prefix is kept per
data dir, checked, and a test session's sweep takes only its own users and dead sessions'."""

import os
import pwd
import subprocess

import pytest

from fleet import naming
from fleet.backends.common import add_user, remove_user
from tests.naming import PREFIX, sub_prefix, sweep_users


def test_the_prefix_is_made_once_per_data_dir_and_kept(tmp_path):
    first = naming.load(tmp_path / "a")
    assert naming.PATTERN.match(first) and first.startswith("bl")
    assert naming.load(tmp_path / "a") == first  # kept in the data dir
    assert (tmp_path / "a" / naming.PREFIX_FILE).read_text().strip() == first
    assert naming.load(tmp_path / "b") != first  # another installation, another prefix
    assert naming.load(tmp_path / "a", "lab7") == "lab7"  # the setting wins
    assert naming.workspace("lab7", 12) == "lab7-run-12"
    assert naming.owned("lab7", "lab7-run-12") and not naming.owned("lab7", "lab70-run-1")


@pytest.mark.parametrize("bad", ["", "a", "Bl1", "bl-1", "bl_1", "1bl", "b" * 13, "bl;rm"])
def test_a_prefix_unfit_for_user_and_container_names_is_refused(tmp_path, bad):
    configured = bad
    if bad == "":  # nothing set, and a damaged file in the data dir
        (tmp_path / naming.PREFIX_FILE).write_text("NOT valid\n")
    with pytest.raises(naming.BadPrefix, match="lower-case letters or digits"):
        naming.load(tmp_path, configured)


@pytest.mark.skipif(os.geteuid() != 0, reason="makes unix users")
def test_a_sweep_takes_its_own_and_dead_sessions_users_never_another_installations():
    dead_pid = 4_000_000  # above any pid this machine hands out (pid_max is 4194304 at most)
    assert not os.path.exists(f"/proc/{dead_pid}")
    names = {
        "own": f"{PREFIX}-run-990101",
        "own_demo": f"{sub_prefix('z')}-run-990105",  # the demo journey's own database
        "dead": f"bt{dead_pid:x}-run-990102",
        "demo": "bl9f9f9f-run-990103",  # a `make demo` beside the suite
        "live": f"bt{os.getppid():x}-run-990104",  # another live session (our parent's pid)
        "agent": "bltestagent",  # unprefixed, as METR's agent is: its maker is in the comment
    }
    owners = {"agent": f"bt{dead_pid:x}"}
    try:
        for key, name in names.items():
            made = add_user(name, f"/home/{name}", owners.get(key, name.split("-run-")[0]))
            subprocess.run(made, shell=True, check=True)
        swept = sweep_users()
        assert {names[k] for k in ("own", "own_demo", "dead", "agent")} <= set(swept)
        left = {entry.pw_name for entry in pwd.getpwall()}
        assert names["demo"] in left and names["live"] in left
        assert names["own"] not in left and names["dead"] not in left
    finally:
        for name in names.values():
            subprocess.run(remove_user(name, f"/home/{name}"), shell=True, check=False)


def test_a_bad_prefix_setting_is_refused_at_start_up(tmp_path):
    from pydantic import ValidationError

    from webapp.settings import Settings

    with pytest.raises(ValidationError, match="workspace_prefix"):
        Settings(data_dir=tmp_path, workspace_prefix="Bad-One")
    assert Settings(data_dir=tmp_path, workspace_prefix="lab1").prefix == "lab1"
