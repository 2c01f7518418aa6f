"""CLI commands for provenance: `audit` (whole project, or one result's chain) and `lineage`."""

from __future__ import annotations

import json

import click

from fts.cli.common import get_project


@click.command("audit")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--run", "run_id", default=None, metavar="RUN_ID",
              help="Trace one run (an id prefix is enough) down to its raw loads.")
@click.option("--trial", default=None, metavar="STUDY:N",
              help="Trace the run of trial N of STUDY down to its raw loads.")
@click.pass_context
def audit_cmd(ctx: click.Context, as_json: bool, run_id: str | None, trial: str | None) -> None:
    """Re-hash every artefact and check every link from raw loads to runs.

    Exit status 1 when anything no longer matches what its manifest pins (the report names each
    broken link, the expected and found hash, and what is now unproven); 0 when all holds.
    Files that no committed registration references (an interrupted command's leftovers) are
    warnings: `fts gc` lists and removes them.
    """
    from fts.audit.format import format_chain, format_report

    if run_id and trial:
        raise click.UsageError("give --run or --trial, not both")
    project = get_project(ctx)
    if run_id or trial:
        chain = project.trace(run_id, trial=trial)
        _emit(chain.to_dict() if as_json else format_chain(chain), as_json)
        ok = chain.ok
    else:
        report = project.audit()
        _emit(report.to_dict() if as_json else format_report(report), as_json)
        ok = report.ok
    if not ok:
        ctx.exit(1)


@click.command("gc")
@click.option("--delete", is_flag=True,
              help="Remove what is listed (default: a dry run that only lists, like git clean -n).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def gc_cmd(ctx: click.Context, delete: bool, as_json: bool) -> None:
    """List (and with --delete remove) files no committed registration references (left by an
    interrupted command), and superseded builds: tier builds and datasets that nothing current
    was made from. A registered artefact that something current needs is never removed."""
    from fts.audit.gc import format_gc

    plan = get_project(ctx).gc(delete=delete)
    _emit(plan.to_dict() if as_json else format_gc(plan), as_json)


@click.command("lineage")
@click.argument("target", metavar="TIER.COLUMN")
@click.option("--json", "as_json", is_flag=True, help="Print the lineage as JSON.")
@click.pass_context
def lineage_cmd(ctx: click.Context, target: str, as_json: bool) -> None:
    """The raw columns and models TIER.COLUMN is computed from (read from the SQL and the
    Python models' code)."""
    from fts.audit.format import format_lineage

    lin = get_project(ctx).lineage(target)
    _emit(lin.to_dict() if as_json else format_lineage(lin), as_json)


def _emit(payload: object, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        for line in payload:  # type: ignore[attr-defined]
            click.echo(line)


COMMANDS: list[click.Command] = [audit_cmd, gc_cmd, lineage_cmd]
