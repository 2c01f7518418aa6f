"""CLI commands for models and training: `models`, `train`."""

from __future__ import annotations

import json

import click

from fts.cli.common import get_project, progress_printer
from fts.datasets.normalize import NORMALIZATIONS
from fts.train.levels import DEFAULT_NORMALIZATION


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


@click.command("models")
@click.option("--tier", required=True, help="Tier whose feature count sizes the input.")
@click.option("--budget", required=True, help="Parameter budget: 2M, 20M, 200M, 2B or <n>[K|M|B].")
@click.option("--ctx", "ctx_len", default=64, show_default=True, help="Context length (rows).")
@click.option("--limit", default=40, show_default=True, help="Show at most this many.")
@click.pass_context
def models_cmd(ctx: click.Context, tier: str, budget: str, ctx_len: int, limit: int) -> None:
    """List the PatchTST architectures whose REAL parameter count is within +-25 % of BUDGET."""
    from models_torch import estimate_training_memory, format_count

    archs = get_project(ctx).models(tier, budget, ctx_len)
    click.echo(f"{len(archs)} architectures for {tier} at {budget} (ctx {ctx_len}); "
               f"memory at batch 64, fp32, AdamW")
    click.echo(f"{'params':>8} {'d_model':>7} {'layers':>6} {'heads':>5} {'d_ff':>6} "
               f"{'patch':>5} {'stride':>6} {'memory':>10}")
    step = max(1, len(archs) // limit)
    for a in archs[::step][:limit]:
        c = a.config
        click.echo(f"{format_count(a.n_params):>8} {c.d_model:>7} {c.n_layers:>6} {c.n_heads:>5} "
                   f"{c.d_ff:>6} {c.patch_len:>5} {c.stride:>6} "
                   f"{_gib(estimate_training_memory(c, 64)):>10}")


@click.command("train")
@click.option("--tier", required=True, help="Feature tier (built first if missing or stale).")
@click.option("--budget", required=True, help="Parameter budget: 2M, 20M, 200M, 2B or <n>[K|M|B].")
@click.option("--horizon", type=int, required=True, help="Target horizon h in trading rows.")
@click.option("--threshold", type=float, required=True, help="Target threshold p in percent.")
@click.option("--ctx", "ctx_len", type=int, default=64, show_default=True, help="Context rows.")
@click.option("--arch", "arch", multiple=True, metavar="KEY=N",
              help="Architecture override: d_model, n_layers, n_heads, d_ff, patch_len, stride.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", "max_epochs", type=int, default=30, show_default=True)
@click.option("--patience", type=int, default=5, show_default=True)
@click.option("--lr", type=float, default=3e-4, show_default=True)
@click.option("--weight-decay", type=float, default=0.05, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True,
              help="Samples per optimizer step.")
@click.option("--micro-batch", type=int, default=0, show_default=True,
              help="Samples per forward pass (gradients accumulate); 0 = the most that fits memory.")
@click.option("--warmup-frac", type=float, default=0.05, show_default=True,
              help="Share of optimizer steps spent warming the learning rate up.")
@click.option("--min-lr-ratio", type=float, default=0.1, show_default=True,
              help="The cosine decay ends at lr x this.")
@click.option("--grad-clip", type=float, default=1.0, show_default=True,
              help="Max global gradient norm; 0 disables clipping.")
@click.option("--pos-weight", type=float, default=1.0, show_default=True,
              help="BCE weight of positives; 0 = negatives/positives of the train split.")
@click.option("--max-batches", "max_train_batches", type=int, default=0, show_default=True,
              help="Cap on optimizer steps per epoch (0 = all); for quick runs.")
@click.option("--dropout", type=float, default=0.2, show_default=True)
@click.option("--bf16", is_flag=True, help="bf16 autocast (fast on GPUs, slow on most CPUs).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--channels", type=click.Choice(["independent", "mixed"]), default="independent",
              show_default=True,
              help="independent: each feature its own token sequence (C encoder passes per "
                   "sample); mixed: one token per patch holds every feature (one pass).")
@click.option("--dry-run", is_flag=True, help="Estimate parameters, memory and time; train nothing.")
@click.option("--inputs", type=click.Choice(["scale_free", "raw"]), default="scale_free",
              show_default=True, help="Model inputs: made independent of the price and volume "
              "scale from each column's declared kind, or the tier's raw values.")
@click.option("--min-val-positives", type=int, default=50, show_default=True,
              help="Refuse a dataset whose validation block (the 600 days this run stops and "
              "picks its threshold on) has fewer positives; "
              "0 disables the rule (recorded in the dataset).")
@click.option("--normalization", type=click.Choice(NORMALIZATIONS), default=DEFAULT_NORMALIZATION,
              show_default=True, help="revin: each window normalised inside the model; "
              "train_zscore: features standardised on the train rows, RevIN off; none: raw, RevIN off.")
@click.option("--revin-stats/--no-revin-stats", default=None,
              help="With revin: hand each channel's window mean and log-std to the head, so the "
              "model still sees each channel's level. [default: on with revin, off otherwise]")
@click.option("--max-hours", type=float, default=24.0, show_default=True,
              help="Refuse a run whose estimate (every epoch run) exceeds this.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON (progress goes to stderr).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.pass_context
def train_cmd(ctx: click.Context, tier: str, budget: str, horizon: int, threshold: float,
              ctx_len: int, arch: tuple[str, ...], seed: int, max_epochs: int, patience: int,
              lr: float, weight_decay: float, batch_size: int, micro_batch: int,
              warmup_frac: float, min_lr_ratio: float, grad_clip: float, pos_weight: float,
              max_train_batches: int, dropout: float, bf16: bool, device: str, channels: str,
              dry_run: bool, inputs: str, min_val_positives: int, normalization: str,
              revin_stats: bool | None, max_hours: float, as_json: bool, quiet: bool) -> None:
    """Train one PatchTST on TIER for the threshold target; store the run in the warehouse."""
    from fts.core.errors import ConfigError
    from fts.train.config import TrainConfig
    from fts.train.request import RunRequest

    overrides = {}
    for item in arch:
        key, _, value = item.partition("=")
        if not value.isdigit():
            raise ConfigError(f"--arch {item!r}: expected KEY=INTEGER")
        overrides[key.strip()] = int(value)
    request = RunRequest(
        tier=tier, budget=budget, horizon=horizon, threshold_pct=threshold, ctx_len=ctx_len,
        arch=overrides, dropout=dropout, device=device, channels=channels, max_hours=max_hours,
        train=TrainConfig(lr=lr, weight_decay=weight_decay, warmup_frac=warmup_frac,
                          min_lr_ratio=min_lr_ratio, max_epochs=max_epochs, patience=patience,
                          batch_size=batch_size, micro_batch=micro_batch, grad_clip=grad_clip,
                          pos_weight=pos_weight, bf16=bf16, seed=seed,
                          max_train_batches=max_train_batches),
        inputs=inputs, min_val_positives=min_val_positives, normalization=normalization,
        revin_stats=revin_stats,
    )
    project = get_project(ctx)
    progress = progress_printer(quiet, as_json)
    if dry_run:
        est = project.dry_run(request, progress=progress, max_hours=max_hours)
        if as_json:
            click.echo(json.dumps(est.to_dict(), indent=2))
        else:
            from fts.train.estimate import format_hours

            per_epoch = (format_hours(est.seconds_per_epoch / 3600)
                         if est.seconds_per_epoch else "n/a")
            total = f", at most {format_hours(est.run_hours)} in all" if est.run_hours else ""
            click.echo(f"{est.n_params:,} parameters; peak memory ~{_gib(est.memory_estimate_bytes)} "
                       f"at micro-batch {est.micro_batch} of {_gib(est.memory_available_bytes)} "
                       f"available on {est.device}; ~{per_epoch} per epoch{total}")
        if est.reason:
            click.echo(f"error: {est.reason}", err=True)
            ctx.exit(1)
        return
    record = project.train(request, progress=progress)
    if as_json:
        click.echo(json.dumps({"run_id": record.run_id, "n_params": record.n_params,
                               "best_epoch": record.best_epoch, "epochs_run": record.epochs_run,
                               "val": record.val_metrics, "test": record.test_metrics}, indent=2))
    else:
        click.echo(f"run {record.run_id}: {record.n_params:,} params, best epoch "
                   f"{record.best_epoch} of {record.epochs_run}")


COMMANDS: list[click.Command] = [models_cmd, train_cmd]
