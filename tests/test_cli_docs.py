"""Every command has help text and a place in docs/cli.md (as sqlite-utils insists)."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from fts.cli import cli

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _commands(group: click.Group, prefix: str = "fts") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        out.append((full, command))
        if isinstance(command, click.Group):
            out += _commands(command, full)
    return out


def test_every_command_has_help_text_and_runs_help() -> None:
    runner = CliRunner()
    for full, command in _commands(cli):
        assert (command.help or "").strip(), f"`{full}` has no help text"
        result = runner.invoke(cli, [*full.split()[1:], "--help"])
        assert result.exit_code == 0, (full, result.output)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and param.name != "help":
                assert param.help or param.is_flag or param.name in {"as_json"} or param.show_default, (
                    f"`{full} {param.opts[0]}` has no help")


def test_every_command_is_documented() -> None:
    text = DOCS.read_text()
    missing = [full for full, _ in _commands(cli) if f"`{full}" not in text]
    assert not missing, f"not in docs/cli.md: {missing}"
