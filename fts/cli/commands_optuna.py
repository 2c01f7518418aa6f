"""CLI: Optuna's own tools on the project's studies, as subcommands of `fts hpo`:
`list`, `trials STUDY`, `export STUDY --to URL`, `dashboard [--port]` (fts.hpo.tools)."""

from __future__ import annotations

import click

from fts.cli.commands_data import FORMATTERS
from fts.cli.commands_hpo import hpo_group
from fts.cli.common import get_project

_STORAGE_HELP = "postgresql://... to read the study from (default: the warehouse)."
_FORMAT = click.Choice(["table", "csv", "json"])


def _echo_frame(frame: object, fmt: str) -> None:
    import pyarrow as pa

    click.echo(FORMATTERS[fmt](pa.Table.from_pandas(frame, preserve_index=False)), nl=False)


@hpo_group.command("list")
@click.option("--storage", "storage_url", default=None, help=_STORAGE_HELP)
@click.option("--format", "fmt", type=_FORMAT, default="table", show_default=True,
              help="Output format.")
@click.pass_context
def hpo_list(ctx: click.Context, storage_url: str | None, fmt: str) -> None:
    """The project's studies, as `optuna studies` lists them (name, direction, n_trials,
    datetime_start), with their tier and budget."""
    _echo_frame(get_project(ctx).hpo_list(storage_url=storage_url), fmt)


@hpo_group.command("trials")
@click.argument("study")
@click.option("--storage", "storage_url", default=None, help=_STORAGE_HELP)
@click.option("--format", "fmt", type=_FORMAT, default="table", show_default=True,
              help="Output format.")
@click.pass_context
def hpo_trials(ctx: click.Context, study: str, storage_url: str | None, fmt: str) -> None:
    """The trials of STUDY, as `optuna trials` shows them (number, value, times, params_*,
    user_attrs_*, state)."""
    _echo_frame(get_project(ctx).hpo_trials(study, storage_url=storage_url), fmt)


@hpo_group.command("export")
@click.argument("study")
@click.option("--to", "to_url", required=True, metavar="URL",
              help="Destination: sqlite:///FILE.db, postgresql://..., or journal:FILE.log.")
@click.option("--name", "to_name", default=None, help="Study name there (default: STUDY).")
@click.option("--storage", "storage_url", default=None, help=_STORAGE_HELP)
@click.pass_context
def hpo_export(ctx: click.Context, study: str, to_url: str, to_name: str | None,
               storage_url: str | None) -> None:
    """Copy STUDY to another Optuna storage (optuna.copy_study), for the optuna CLI,
    optuna-dashboard or any other Optuna tool."""
    n = get_project(ctx).hpo_export(study, to_url, storage_url=storage_url, to_name=to_name)
    click.echo(f"study {study}: {n} trials copied to {to_url.split('@')[-1]}")


@hpo_group.command("dashboard")
@click.option("--port", type=int, default=8080, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (0.0.0.0 exposes the studies to the network).")
@click.option("--storage", "storage_url", default=None, help=_STORAGE_HELP)
@click.pass_context
def hpo_dashboard(ctx: click.Context, port: int, host: str, storage_url: str | None) -> None:
    """Serve optuna-dashboard on the project's studies (Ctrl-C stops it)."""
    try:
        get_project(ctx).hpo_dashboard(host=host, port=port, storage_url=storage_url,
                                       progress=click.echo)
    except KeyboardInterrupt:
        click.echo("stopped")


COMMANDS: list[click.Command] = []  # subcommands of `fts hpo`, registered on import
