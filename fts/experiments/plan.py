"""`fts run --dry-run`: every cell with its real parameter count, memory and time estimates.

Seconds per step are measured with a short probe for models up to `PROBE_MAX_PARAMS`; larger
ones are extrapolated from the probe of a reference model of the same tier by the ratio of
their training FLOPs (marked "extrapolated"). Models that cannot fit are reported, not run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from fts.core.paths import ProjectPaths
from fts.datasets import build_dataset
from fts.experiments.matrix import Experiment
from fts.experiments.runner import prepare, spec_dataset
from fts.train.arch import select_architecture
from fts.train.device import available_memory_bytes, pick_device, use_all_cores
from fts.train.dryrun import n_features_of, probe_seconds_per_step
from fts.train.run import MEMORY_HEADROOM
from models_torch import (
    PatchTSTConfig,
    count_parameters,
    estimate_training_memory,
    max_batch_size,
    parameter_breakdown,
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


def train_flops_per_sample(cfg: PatchTSTConfig) -> float:
    """~6 FLOPs per parameter per token (forward + backward): the encoder sees every channel's
    patches as tokens, the head sees each sample once."""
    parts = parameter_breakdown(cfg)
    head = sum(v for k, v in parts.items() if "head" in k)
    body = count_parameters(cfg) - head
    return 6.0 * (body * cfg.n_features * cfg.n_patches + head)


def plan_experiment(paths: ProjectPaths, exp: Experiment, *, probe: bool = True,
                    progress: Any = lambda _: None) -> list[CellPlan]:
    """Estimate every cell without training anything."""
    use_all_cores()
    device = pick_device()
    available = int(available_memory_bytes(device) * MEMORY_HEADROOM)
    start = prepare(paths, exp, progress)
    samples: dict[tuple[str, int, float], int] = {}
    references: dict[str, tuple[float, float]] = {}
    plans = []
    for cell in exp.cells():
        n_features = n_features_of(paths, cell.tier)
        cfg = select_architecture(cell.budget, n_features, exp.ctx_len)
        n_params = count_parameters(cfg)
        fits_batch = max_batch_size(cfg, available)
        micro = min(BATCH, max(fits_batch, 1))
        memory = estimate_training_memory(cfg, micro)
        fits = fits_batch >= 1
        key = (cell.tier, cell.horizon, cell.threshold_pct)
        if key not in samples:
            ds = build_dataset(paths, spec_dataset(exp, cell), common_start=start)
            samples[key] = ds.counts["train"]
        n_train = samples[key]
        per_step, how = None, "-"
        if fits and probe:
            if n_params <= PROBE_MAX_PARAMS:
                per_step, how = probe_seconds_per_step(cfg, BATCH, micro, device), "measured"
            else:
                if cell.tier not in references:
                    ref = select_architecture(REFERENCE_BUDGET, n_features, exp.ctx_len)
                    references[cell.tier] = (probe_seconds_per_step(ref, BATCH, BATCH, device),
                                             train_flops_per_sample(ref))
                ref_step, ref_flops = references[cell.tier]
                per_step = ref_step * train_flops_per_sample(cfg) / ref_flops
                how = "extrapolated"
        steps = math.ceil(n_train / BATCH)
        if exp.max_train_batches:
            steps = min(steps, exp.max_train_batches)
        per_epoch = per_step * steps if per_step is not None else None
        runs = exp.trials + len(exp.seeds)
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
         if p.seconds_per_epoch is not None else "time not probed")
    return f"{p.cell:<24} {p.n_params:>15,} params  {mem}  micro-batch {p.micro_batch:3d}  {t}"
