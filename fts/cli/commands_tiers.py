"""CLI commands for feature tiers: `build-tier`, `describe`, `tiers`, `init`."""

from __future__ import annotations

import json

import click

from fts.cli.common import get_project


@click.command("build-tier")
@click.argument("tier")
@click.option("--ticker", "tickers", multiple=True,
              help="Rebuild only these tickers, keep the others of the current build (repeatable).")
@click.option("--skip-invalid", is_flag=True,
              help="Build the tickers that pass the checks; record the failing ones as excluded.")
@click.option("--memory-limit", default=None, metavar="SIZE",
              help="Memory budget of the build, e.g. 4GB (default: a quarter of the RAM, or of "
                   "the container's memory limit if smaller).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run ticker batches in this many processes at once (sharing the budget).")
@click.pass_context
def build_tier_cmd(ctx: click.Context, tier: str, tickers: tuple[str, ...], skip_invalid: bool,
                   memory_limit: str | None, jobs: int) -> None:
    """Build TIER (and the tiers it depends on) into validated Parquet, one file per ticker;
    skip the tickers that are up to date."""
    project = get_project(ctx)
    result = project.build_tier(tier, tickers=list(tickers) or None, progress=click.echo,
                                skip_invalid=skip_invalid, memory_limit=memory_limit,
                                jobs=jobs)
    for t in result.tiers:
        state = ("up to date" if t.up_to_date else
                 f"built {len(t.built)} ticker(s), kept {t.kept}, in {t.seconds:.1f}s")
        # The exclusions were printed by the build's progress lines.
        click.echo(f"{t.tier}: {state}, {t.rows} rows -> {t.parquet_path} (manifest {t.manifest_id[:12]})")


@click.command("describe")
@click.argument("tier")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@click.option("--schema", "as_schema", is_flag=True,
              help="Print the pandera schema that validates TIER's builds, as YAML.")
@click.pass_context
def describe_cmd(ctx: click.Context, tier: str, as_json: bool, as_schema: bool) -> None:
    """Columns, definitions, warm-up, version, fingerprint and lineage of TIER."""
    if as_schema:
        click.echo(get_project(ctx).schema(tier), nl=False)
        return
    info = get_project(ctx).describe(tier)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"tier {info['tier']} v{info['version']}: {info['description']}")
    click.echo(f"  fingerprint {info['fingerprint'][:16]}  definition {info['definition_fingerprint'][:16]}"
               + ("" if info["version_recorded"] else "  (version not yet recorded in versions.lock)"))
    if info["extends"]:
        click.echo(f"  extends {info['extends']}")
    click.echo("  models: " + ", ".join(
        f"{m['name']} ({m['kind']}; refs {', '.join(m['refs']) or '-'}; "
        f"sources {', '.join(m['sources']) or '-'})" for m in info["models"]))
    click.echo("  sources: " + ", ".join(
        f"{s['name']} ({s['kind']}" + (f" {s['ticker']} {'/'.join(s['columns'])}, NULL after "
                                       f"{s['max_staleness_days']} days" if s["ticker"] else "")
        + ")" for s in info["sources"]))
    build = info["build"]
    if build:
        click.echo(f"  current build: manifest {build['manifest_id'][:12]}, {build['rows']} rows, "
                   f"{build['parquet']}" + ("" if build["up_to_date_definition"] else " (STALE: definition changed)"))
        for ticker, r in build["date_range"].items():
            click.echo(f"    {ticker}: {r['first']} .. {r['last']} ({r['rows']} rows)")
        for ticker, why in build["excluded"].items():
            click.echo(f"    {ticker}: EXCLUDED by --skip-invalid: {'; '.join(why)}")
    else:
        click.echo(f"  not built yet (run `fts build-tier {tier}`)")
    width = max(len(c["name"]) for c in info["columns"]) if info["columns"] else 4
    click.echo(f"  {'column':<{width}}  tier   warmup  {'kind':<16}  definition")
    for c in info["columns"]:
        extra = f" [may be null: {c['nullable']}]" if c["nullable"] else ""
        click.echo(f"  {c['name']:<{width}}  {c['tier']:<5}  {c['warmup']:>6}  {c['kind']:<16}  "
                   f"{c['description']}{extra}")


@click.command("tiers")
@click.pass_context
def tiers_cmd(ctx: click.Context) -> None:
    """List the declared tiers."""
    for name in get_project(ctx).tiers():
        click.echo(name)


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def init_cmd(directory: str) -> None:
    """Scaffold a new project in DIRECTORY: the shipped tier declarations and studies."""
    from fts.project import Project

    created = Project.init(directory).root
    click.echo(f"created project {created}; next: cd {directory} && fts ingest sample")


COMMANDS: list[click.Command] = [build_tier_cmd, describe_cmd, tiers_cmd, init_cmd]
