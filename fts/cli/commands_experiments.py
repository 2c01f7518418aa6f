"""CLI: `fts run STUDY.toml`, `fts report NAME`, `fts evaluate RUN`."""

from __future__ import annotations

import json

import click

from fts.cli.common import get_project, progress_printer


@click.command("run")
@click.argument("study_file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True,
              help="List every cell with real parameter counts, memory and time estimates; "
                   "write nothing.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout; progress on stderr.")
@click.option("--max-hours", type=float, default=24.0, show_default=True,
              help="Refuse a matrix whose unfinished cells are estimated above this.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.pass_context
def run_cmd(ctx: click.Context, study_file: str, dry_run: bool, as_json: bool,
            max_hours: float, quiet: bool) -> None:
    """Run the experiment matrix STUDY_FILE (resumable: finished cells are skipped)."""
    project = get_project(ctx)
    exp = project.experiment(study_file)
    progress = progress_printer(quiet, as_json)
    if dry_run:
        plans = project.plan(exp, progress=progress)
        if as_json:
            click.echo(json.dumps([p.to_dict() for p in plans], indent=2))
        else:
            fit = [p for p in plans if p.fits]
            hours = sum(p.cell_hours or 0 for p in fit)
            click.echo(f"{len(plans)} cells; {len(plans) - len(fit)} do not fit this machine; "
                       f"~{hours:.1f} h for the rest at max_epochs (early stopping shortens it)")
        return
    try:
        outcomes = project.run(exp, progress=progress, max_hours=max_hours, show_bar=not quiet)
    except KeyboardInterrupt:
        click.echo(f"interrupted: finished cells, trials and final runs are kept; resume with "
                   f"the same command (fts run {study_file})", err=True)
        ctx.exit(130)
    ran = sum(not o.skipped for o in outcomes)
    if as_json:
        click.echo(json.dumps({"experiment": exp.name, "cells": [
            {"cell": o.cell, "skipped": o.skipped, "final_runs": o.final_runs}
            for o in outcomes]}, indent=2))
        return
    click.echo(f"{exp.name}: {len(outcomes)} cells ({ran} run now, {len(outcomes) - ran} already "
               f"done); write the report with `fts report {exp.name}`")


@click.command("report")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report's numbers (one object per target) as JSON instead.")
@click.option("--html", "as_html", is_flag=True,
              help="Also write report.html: one self-contained page, figures embedded.")
@click.pass_context
def report_cmd(ctx: click.Context, name: str, as_json: bool, as_html: bool) -> None:
    """Write the Markdown report of experiment NAME (data/reports/NAME/) from stored runs."""
    project = get_project(ctx)
    out = project.report(name, progress=(lambda _: None) if as_json else click.echo,
                         html=as_html)
    if as_json:
        click.echo(out.with_name("report.json").read_text(encoding="utf-8"), nl=False)
    else:
        click.echo(f"report written: {out}")
        if as_html:
            click.echo(f"report written: {out.with_name('report.html')}")


@click.command("evaluate")
@click.argument("run_id")
@click.option("--force", is_flag=True, help="Evaluate the test split again (recorded as forced).")
@click.pass_context
def evaluate_cmd(ctx: click.Context, run_id: str, force: bool) -> None:
    """Evaluate a stored run on its test split (refused if already done, unless --force)."""
    metrics = get_project(ctx).evaluate(run_id, force=force)
    click.echo(json.dumps(metrics, indent=2))


COMMANDS: list[click.Command] = [run_cmd, report_cmd, evaluate_cmd]
