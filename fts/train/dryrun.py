"""`fts train --dry-run`: parameter count, memory estimate and seconds per epoch from a short
measured probe, without training; a run that cannot fit is reported, not started."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from fts.core.paths import ProjectPaths
from fts.features import load_feature_project
from fts.train.arch import select_architecture
from fts.train.device import available_memory_bytes, pick_device, use_all_cores
from fts.train.request import RunRequest
from fts.train.run import MEMORY_HEADROOM
from models_torch import (
    PatchTST,
    PatchTSTConfig,
    count_parameters,
    estimate_training_memory,
    max_batch_size,
)

PROBE_STEPS = 3


@dataclass(frozen=True)
class DryRun:
    """What a run would cost."""

    tier: str
    budget: str
    n_features: int
    n_params: int
    model: dict[str, object]
    device: str
    micro_batch: int
    memory_estimate_bytes: int
    memory_available_bytes: int
    fits: bool
    seconds_per_step: float | None
    train_samples: int | None
    seconds_per_epoch: float | None
    reason: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def n_features_of(paths: ProjectPaths, tier: str) -> int:
    """Feature count of a tier, from its declaration (no build needed)."""
    return len(load_feature_project(paths.features_sql).columns(tier))


def probe_seconds_per_step(cfg: PatchTSTConfig, batch: int, micro: int, device: torch.device) -> float:
    """Time a few optimizer steps on random data of the right shape (after one warm-up step)."""
    torch.manual_seed(0)
    model = PatchTST(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.randn(micro, cfg.ctx_len, cfg.n_features, device=device)
    y = torch.zeros(micro, device=device)
    accum = math.ceil(batch / micro)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        for _ in range(accum):
            loss_fn(model(x), y).backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(PROBE_STEPS):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / PROBE_STEPS


def dry_run(paths: ProjectPaths, request: RunRequest, train_samples: int | None = None,
            probe: bool = True) -> DryRun:
    """Estimate a run. `train_samples` (when known) turns seconds per step into per epoch."""
    use_all_cores()
    n_features = n_features_of(paths, request.tier)
    template = PatchTSTConfig(n_features=n_features, ctx_len=request.ctx_len,
                              dropout=request.dropout, channels=request.channels)
    cfg = select_architecture(request.budget, n_features, request.ctx_len, request.arch, template)
    device = pick_device(request.device)
    available = int(available_memory_bytes(device) * MEMORY_HEADROOM)
    fits_batch = max_batch_size(cfg, available)
    micro = request.train.micro_batch or min(request.train.batch_size, max(fits_batch, 1))
    estimate = estimate_training_memory(cfg, micro)
    fits = fits_batch >= 1 and estimate <= available
    reason = None if fits else (
        f"needs about {estimate / 2**30:.1f} GiB at micro-batch {micro}; "
        f"{available / 2**30:.1f} GiB available on {device.type}")
    per_step = probe_seconds_per_step(cfg, request.train.batch_size, micro, device) if (fits and probe) else None
    per_epoch = None
    if per_step is not None and train_samples:
        steps = math.ceil(train_samples / request.train.batch_size)
        if request.train.max_train_batches:
            steps = min(steps, request.train.max_train_batches)
        per_epoch = per_step * steps
    return DryRun(request.tier, request.budget, n_features, count_parameters(cfg), cfg.to_dict(),
                  device.type, micro, estimate, available, fits, per_step, train_samples,
                  per_epoch, reason)
