"""The README tells a newcomer every command there is and every setting: checked against the
CLI itself and the settings model, so a command or variable added later cannot be left out."""

import re
from pathlib import Path

import typer

from webapp.cli import app
from webapp.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_the_command_list_names_every_command_and_subcommand():
    listed = _section("Command line")
    lines = [line for line in listed.splitlines() if line.startswith("baseliner ")]
    root = typer.main.get_command(app)
    assert "backup" in root.commands  # the groups are there to check
    for name, command in root.commands.items():
        mine = [line for line in lines if line.split()[1] == name]
        assert mine, f"`baseliner {name}` is missing from the README's command list"
        if hasattr(command, "commands"):  # a group
            words = {w for line in mine for w in re.findall(r"[\w-]+", line)}
            missing = sorted(set(command.commands) - words)
            assert not missing, f"`baseliner {name}` lacks {missing} in the README"


def test_the_configuration_table_names_every_setting():
    table = _section("Configuration")
    for name in Settings.model_fields:
        variable = f"BASELINER_{name.upper()}"
        assert f"`{variable}`" in table, f"{variable} is missing from the README's table"


def test_quick_start_says_how_to_choose_the_port_and_address():
    quick = _section("Quick start")
    assert "make demo PORT=8123" in quick and "HOST=0.0.0.0" in quick
    assert "BASELINER_PORT=8123" in quick
