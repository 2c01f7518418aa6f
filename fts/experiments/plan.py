"""`fts run --dry-run`: every cell with its real parameter count, memory and time estimates.

Seconds per step are measured with a short probe for models up to `PROBE_MAX_PARAMS`; larger
ones are extrapolated from the probe of a reference model of the same tier (the largest measured
budget of the matrix, else `REFERENCE_BUDGET`) by the ratio of their training FLOPs (marked
"extrapolated"). Models that cannot fit are reported, not run.

A dry run writes nothing: it builds no tier (an unbuilt tier is reported and its sample counts
taken from a built one), counts samples without storing datasets, and times each distinct
architecture once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from fts.core.hashing import canonical_json
from fts.core.paths import ProjectPaths
from fts.datasets import common_sample_start, split_counts
from fts.experiments.matrix import Experiment
from fts.experiments.runner import spec_dataset
from fts.features import describe_tier
from fts.train.arch import select_architecture
from fts.train.device import available_memory_bytes, pick_device, use_all_cores
from fts.train.dryrun import n_features_of
from fts.train.estimate import probe_seconds_per_step
from fts.train.levels import level_options
from fts.train.run import MEMORY_HEADROOM
from models_torch import (
    PatchTSTConfig,
    count_parameters,
    estimate_training_memory,
    max_batch_size,
    train_flops_per_sample,
)

PROBE_MAX_PARAMS = 5_000_000
REFERENCE_BUDGET = "500K"
BATCH = 64


@dataclass(frozen=True)
class CellPlan:
    cell: str
    tier: str
    budget: str
    n_features: int
    n_params: int
    architecture: str
    micro_batch: int
    memory_bytes: int
    fits: bool
    train_samples: int | None
    seconds_per_epoch: float | None
    estimate: str  # "measured", "extrapolated" or "-"
    cell_hours: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _built_tiers(paths: ProjectPaths, exp: Experiment, progress: Any) -> list[str]:
    """The matrix's tiers that have a current build (a dry run builds none)."""
    built = []
    for tier in exp.tiers:
        build = describe_tier(paths, tier)["build"]
        if build is None or not paths.absolute(build["parquet"]).exists():
            progress(f"{tier}: not built (`fts build-tier {tier}`); its sample counts are "
                     "estimated from a built tier")
            continue
        if not build["up_to_date_definition"]:
            progress(f"{tier}: the current build predates its definition; counted on that build")
        built.append(tier)
    return built


def plan_experiment(paths: ProjectPaths, exp: Experiment, *, probe: bool = True,
                    progress: Any = lambda _: None) -> list[CellPlan]:
    """Estimate every cell without training or writing anything."""
    use_all_cores()
    device = pick_device()
    available = int(available_memory_bytes(device) * MEMORY_HEADROOM)
    built = _built_tiers(paths, exp, progress)
    start = common_sample_start(paths, built, ctx_len=exp.ctx_len) if built else None
    samples: dict[tuple[str, int, float], int | None] = {}
    timed: dict[tuple[str, int], float] = {}
    archs: dict[tuple[str, str], PatchTSTConfig] = {}
    references: dict[str, PatchTSTConfig] = {}
    features = {tier: n_features_of(paths, tier) for tier in exp.tiers}

    def arch(tier: str, budget: str) -> PatchTSTConfig:
        # Selecting from the grid costs ~40 ms; each (tier, budget) recurs across cells.
        if (tier, budget) not in archs:
            # A "search" over channel modes is estimated at its independent centre (the
            # dearer mode per parameter).
            mode = "mixed" if exp.channels == "mixed" else "independent"
            template = PatchTSTConfig(n_features=features[tier], ctx_len=exp.ctx_len,
                                      channels=mode, **level_options(**exp.levels))
            archs[tier, budget] = select_architecture(budget, features[tier], exp.ctx_len,
                                                      template=template)
        return archs[tier, budget]

    def count(tier: str, cell: Any) -> int | None:
        key = (tier, cell.horizon, cell.threshold_pct)
        if key not in samples:
            if tier in built:
                spec = spec_dataset(exp, replace(cell, tier=tier))
                samples[key] = split_counts(paths, spec, common_start=start)["train"]
            else:  # the same common dates on another tier: about the same count
                samples[key] = count(built[0], cell) if built else None
        return samples[key]

    def micro_batch(cfg: PatchTSTConfig) -> int:
        return min(BATCH, max(max_batch_size(cfg, available), 1))

    def seconds_per_step(cfg: PatchTSTConfig) -> float:
        key = (canonical_json(cfg.to_dict()), micro_batch(cfg))
        if key not in timed:
            timed[key] = probe_seconds_per_step(cfg, BATCH, key[1], device)
        return timed[key]

    def reference(tier: str) -> PatchTSTConfig:
        """The largest model of the matrix that is measured anyway, else REFERENCE_BUDGET's."""
        if tier not in references:
            measured = [c for c in (arch(tier, b) for b in exp.budgets)
                        if count_parameters(c) <= PROBE_MAX_PARAMS
                        and max_batch_size(c, available) >= 1]
            references[tier] = (max(measured, key=count_parameters) if measured
                                else arch(tier, REFERENCE_BUDGET))
        return references[tier]

    plans = []
    for cell in exp.cells():
        n_features = features[cell.tier]
        cfg = arch(cell.tier, cell.budget)
        n_params = count_parameters(cfg)
        fits_batch = max_batch_size(cfg, available)
        micro = micro_batch(cfg)
        memory = estimate_training_memory(cfg, micro)
        fits = fits_batch >= 1
        n_train = count(cell.tier, cell)
        per_step, how = None, "-"
        if fits and probe:
            if n_params <= PROBE_MAX_PARAMS:
                per_step, how = seconds_per_step(cfg), "measured"
            else:
                ref = reference(cell.tier)
                per_step = (seconds_per_step(ref) * train_flops_per_sample(cfg)
                            / train_flops_per_sample(ref))
                how = "extrapolated"
        per_epoch = None
        if per_step is not None and n_train is not None:
            steps = math.ceil(n_train / BATCH)
            if exp.max_train_batches:
                steps = min(steps, exp.max_train_batches)
            per_epoch = per_step * steps
        # A trial trains one model per walk-forward fold (each on at most the train split);
        # the final runs train once per seed.
        runs = exp.trials * max(1, exp.split.folds) + len(exp.seeds)
        hours = per_epoch * exp.max_epochs * runs / 3600 if per_epoch is not None else None
        plans.append(CellPlan(cell.key, cell.tier, cell.budget, n_features, n_params,
                              _arch_label(cfg), micro, memory, fits, n_train, per_epoch, how,
                              hours))
        progress(_line(plans[-1]))
    return plans


def _arch_label(cfg: PatchTSTConfig) -> str:
    return (f"d{cfg.d_model}-L{cfg.n_layers}-H{cfg.n_heads}-ff{cfg.d_ff}-"
            f"p{cfg.patch_len}s{cfg.stride}")


def _line(p: CellPlan) -> str:
    mem = f"{p.memory_bytes / 2**30:7.2f} GiB"
    if not p.fits:
        return f"{p.cell:<24} {p.n_params:>15,} params  {mem}  DOES NOT FIT: reported, not run"
    t = (f"{p.seconds_per_epoch:9.1f} s/epoch ({p.estimate}), {p.cell_hours:8.2f} h/cell"
         if p.seconds_per_epoch is not None
         else "samples unknown (no tier built)" if p.train_samples is None else "time not probed")
    return f"{p.cell:<24} {p.n_params:>15,} params  {mem}  micro-batch {p.micro_batch:3d}  {t}"
