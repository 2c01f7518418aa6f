"""CLI: `fts hpo` (run or resume a study), `fts hpo show STUDY`, `fts hpo sync URL STUDY`."""

from __future__ import annotations

import json
from typing import Any

import click

from fts.cli.common import get_project, progress_printer
from fts.datasets.normalize import NORMALIZATIONS
from fts.train.levels import DEFAULT_NORMALIZATION


@click.group("hpo", invoke_without_command=True)
@click.option("--tier", help="Feature tier to search on.")
@click.option("--budget", help="Parameter budget: 2M, 20M, 200M, 2B or <n>[K|M|B].")
@click.option("--horizon", type=int, default=1, show_default=True, help="Target horizon (rows).")
@click.option("--threshold", type=float, default=1.0, show_default=True, help="Target threshold (%).")
@click.option("--trials", type=int, default=20, show_default=True,
              help="Finished trials the study must hold in total (a resume runs the rest).")
@click.option("--study", "name", default="", help="Study name (default: tier-budget-hH-pP).")
@click.option("--storage", "storage_url", default=None,
              help="postgresql://... to share the study across machines (default: the warehouse).")
@click.option("--ctx", "ctx_len", type=int, default=64, show_default=True)
@click.option("--epochs", "max_epochs", type=int, default=30, show_default=True)
@click.option("--patience", type=int, default=5, show_default=True)
@click.option("--max-batches", "max_train_batches", type=int, default=0,
              help="Cap optimizer steps per epoch (0 = all); for quick studies.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--inputs", type=click.Choice(["scale_free", "raw"]), default="scale_free",
              show_default=True, help="Model inputs: scale-free from the declared kinds, or raw.")
@click.option("--min-val-positives", type=int, default=50, show_default=True,
              help="Refuse a dataset whose validation (summed over folds) has fewer positives; "
              "0 disables the rule.")
@click.option("--channels", type=click.Choice(["independent", "mixed", "search"]),
              default="independent", show_default=True,
              help="PatchTST channel mode; search: both modes are choices of the search.")
@click.option("--normalization", type=click.Choice(NORMALIZATIONS), default=DEFAULT_NORMALIZATION,
              show_default=True, help="revin: each window normalised inside the model; "
              "train_zscore: features standardised on the train rows, RevIN off; none: raw, RevIN off.")
@click.option("--revin-stats/--no-revin-stats", default=None,
              help="With revin: hand each channel's window mean and log-std to the head. [default: on with revin, off otherwise]")
@click.option("--max-hours", type=float, default=24.0, show_default=True,
              help="Refuse a study whose estimated total (an upper bound) exceeds this.")
@click.option("--dry-run", is_flag=True,
              help="Print the estimate (architectures, memory, time, total); run nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON on stdout (the estimate with --dry-run, else the outcome); "
                   "progress on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.pass_context
def hpo_group(ctx: click.Context, tier: str | None, budget: str | None, horizon: int,
              threshold: float, trials: int, name: str, storage_url: str | None, ctx_len: int,
              max_epochs: int, patience: int, max_train_batches: int, seed: int, inputs: str,
              min_val_positives: int, channels: str, normalization: str, revin_stats: bool | None,
              max_hours: float, dry_run: bool,
              as_json: bool, quiet: bool) -> None:
    """Search architectures within BUDGET and training settings with Optuna; the study is
    stored in the warehouse (or PostgreSQL) and resumes where it stopped."""
    if ctx.invoked_subcommand is not None:
        return
    if not tier or not budget:
        raise click.UsageError("fts hpo needs --tier and --budget (or a subcommand: show, sync)")
    from fts.hpo.study import StudySpec

    spec = StudySpec(tier=tier, budget=budget, horizon=horizon, threshold_pct=threshold,
                     ctx_len=ctx_len, seed=seed, name=name, max_epochs=max_epochs,
                     patience=patience, max_train_batches=max_train_batches, inputs=inputs,
                     min_val_positives=min_val_positives, channels=channels,
                     normalization=normalization, revin_stats=revin_stats)
    project = get_project(ctx)
    progress = progress_printer(quiet, as_json)
    if dry_run:
        _hpo_dry_run(ctx, project, spec, trials, max_hours, as_json, progress)
        return
    try:
        out = project.hpo(spec, trials, storage_url=storage_url, progress=progress,
                          max_hours=max_hours, show_bar=not quiet)
    except KeyboardInterrupt:
        click.echo(f"stopped; resume with the same command (study {spec.name})", err=True)
        ctx.exit(130)
    if as_json:
        click.echo(json.dumps({"study": out.name, "finished": out.finished,
                               "ran_now": out.ran_now, "failed_now": out.failed_now,
                               "best_trial": out.best_trial, "best_value": out.best_value,
                               "dataset_manifest_id": out.dataset_manifest_id}, indent=2))
        return
    best = f"best trial {out.best_trial} ({out.best_value:.4f})" if out.best_value is not None else "no complete trial"
    click.echo(f"study {out.name}: {out.finished} finished trials ({out.ran_now} run now); {best}")


def _hpo_dry_run(ctx: click.Context, project: Any, spec: Any, trials: int, max_hours: float,
                 as_json: bool, progress: Any) -> None:
    """`fts hpo --dry-run`: the study's estimate; writes nothing; exit 1 when it is refused."""
    from fts.hpo.estimate import estimate_study, sample_counts
    from fts.train.arch import budget_grid
    from fts.train.dryrun import n_features_of

    budget_grid(spec.budget, n_features_of(project.paths, spec.tier), spec.ctx_len)
    counts = sample_counts(project.paths, spec)
    if counts is None:
        progress(f"(tier {spec.tier} is not built or not current: samples unknown, so no "
                 f"time per epoch; `fts build-tier {spec.tier}` first)")
    est = estimate_study(project.paths, spec, trials, counts=counts, max_hours=max_hours)
    if as_json:
        click.echo(json.dumps(est.to_dict(), indent=2))
    else:
        for line in est.lines():
            click.echo(line)
    if est.refusal:
        click.echo(f"error: {est.refusal}", err=True)
        ctx.exit(1)


@hpo_group.command("show")
@click.argument("study")
@click.option("--storage", "storage_url", default=None, help="postgresql://... (default: warehouse)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def hpo_show(ctx: click.Context, study: str, storage_url: str | None, as_json: bool) -> None:
    """Best trial of STUDY with its parameters and real parameter count, and the extremes."""
    info = get_project(ctx).hpo_show(study, storage_url=storage_url)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    a = info["attributes"]
    click.echo(f"study {study}: tier {a.get('tier')}, budget {a.get('budget')}, horizon "
               f"{a.get('horizon')}, threshold {a.get('threshold_pct')} %, dataset "
               f"{str(a.get('dataset_manifest_id'))[:12]}")
    click.echo("trials: " + ", ".join(f"{k.lower()} {v}" for k, v in info["counts"].items()))
    for number, why in info["stale_failed"].items():
        click.echo(f"trial {number} was RUNNING but stale ({why}): marked FAIL")
    best = info["best"]
    if best:
        click.echo(f"best: trial {best['number']} val log-loss {best['value']:.4f}, "
                   f"{best['n_params']:,} params, AUC {best['val_auc']}")
        for k, v in best["params"].items():
            click.echo(f"  {k} = {v}")
    costed = [t for t in info["trials"] if t.get("seconds_per_epoch") is not None]
    if costed:
        click.echo("cost, estimated before each trial against measured while it trained:")
        click.echo(f"  {'trial':>5}  {'arch':<32} {'s/epoch est':>11} {'actual':>9} "
                   f"{'memory est':>10} {'peak RSS':>9} {'CPU':>6}")
        for t in costed:
            est = t["estimate_seconds_per_epoch"]
            mem = t["estimate_memory_bytes"]
            click.echo(f"  {t['number']:>5}  {str(t['params'].get('arch')):<32} "
                       f"{est if est is None else f'{est:.2f}':>11} "
                       f"{t['seconds_per_epoch']:>9.2f} "
                       f"{'-' if mem is None else f'{mem / 2**30:.2f}G':>10} "
                       f"{t['peak_rss_bytes'] / 2**30:>8.2f}G {t['cpu_percent_mean']:>5.0f}%")
    if info["extremes"]:
        click.echo("extremes of the grid:")
        for t in info["extremes"]:
            value = f"{t['value']:.4f}" if t["value"] is not None else t["state"]
            n = f"{t['n_params']:,}" if t["n_params"] else "?"
            click.echo(f"  trial {t['number']:3d}  {t['extreme']:<34} {t['params'].get('arch')}  "
                       f"{n} params  {value}")


@hpo_group.command("sync")
@click.argument("storage_url")
@click.argument("study")
@click.pass_context
def hpo_sync(ctx: click.Context, storage_url: str, study: str) -> None:
    """Copy STUDY from a PostgreSQL storage into the warehouse (queryable, audited)."""
    n = get_project(ctx).hpo_sync(storage_url, study)
    click.echo(f"study {study}: {n} trials copied into the warehouse")


COMMANDS: list[click.Command] = [hpo_group]
