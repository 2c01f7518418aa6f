"""CLI: `fts predict RUN_ID`: probabilities of a stored run on its tier's current build."""

from __future__ import annotations

import click

from fts.cli.commands_data import FORMATTERS
from fts.cli.common import get_project


@click.command("predict")
@click.argument("run_id")
@click.option("--since", default=None, metavar="YYYY-MM-DD",
              help="Every date from this one on (default: each ticker's latest date).")
@click.option("--date", "dates", multiple=True, metavar="YYYY-MM-DD",
              help="Only these dates (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.pass_context
def predict_cmd(ctx: click.Context, run_id: str, since: str | None, dates: tuple[str, ...],
                fmt: str, device: str) -> None:
    """Probabilities that the target fires, from stored run RUN_ID (an id prefix is enough),
    for dates of its tier's current build; windows follow the run's dataset rules."""
    import pyarrow as pa

    if since and dates:
        raise click.UsageError("give --since or --date, not both")
    frame = get_project(ctx).predict(run_id, dates=list(dates) or None, since=since,
                                     device=device)
    click.echo(FORMATTERS[fmt](pa.Table.from_pandas(frame, preserve_index=False)), nl=False)


COMMANDS: list[click.Command] = [predict_cmd]
