"""The `fts` command line: a thin Click layer over `fts.Project`.

Each command parses its options, makes one library call and prints the result. Every `FtsError`
becomes exit status 1 with one line on stderr; tracebacks are for bugs only (`FTS_DEBUG=1`
shows them for user errors too).
"""

from __future__ import annotations

import os
import sys

import click

from fts.cli import (
    commands_audit,
    commands_data,
    commands_experiments,
    commands_hpo,
    commands_models,
    commands_optuna,
    commands_predict,
    commands_tiers,
)
from fts.cli.common import FtsGroup


@click.group(cls=FtsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False),
    envvar="FTS_PROJECT_DIR",
    default=None,
    help="Project directory (default: $FTS_PROJECT_DIR or the current directory).",
)
@click.version_option(package_name="fts")
@click.pass_context
def cli(ctx: click.Context, project_dir: str | None) -> None:
    """fts: a declarative feature store for daily market data, with PatchTST training and
    Optuna search on top. Run `fts COMMAND --help` for each command."""
    ctx.obj = {"project_dir": project_dir}
    import logging

    # fts prints its own progress; Optuna's per-trial INFO lines would repeat it.
    logging.getLogger("optuna").setLevel(logging.WARNING)


for module in (commands_data, commands_tiers, commands_models, commands_hpo,
               commands_experiments, commands_audit, commands_optuna, commands_predict):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="fts", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("FTS_DEBUG", "0")
    main()
