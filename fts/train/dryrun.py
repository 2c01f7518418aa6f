"""`fts train --dry-run`: parameter count, memory estimate and seconds per epoch from a short
probe (fts.train.estimate), without training; a run that cannot fit or finish is reported, not
started."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["DryRun", "dry_run", "n_features_of"]

from fts.core.paths import ProjectPaths
from fts.train.arch import select_architecture
from fts.train.device import available_memory_bytes, pick_device, use_all_cores
from fts.train.estimate import DEFAULT_MAX_HOURS, estimate_run, n_features_of, refusal
from fts.train.request import RunRequest
from fts.train.run import MEMORY_HEADROOM
from models_torch import PatchTSTConfig


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
    seconds_per_sample: float | None = None
    estimate: str = "-"  # how seconds were obtained: "measured", "extrapolated ..." or "-"
    run_hours: float | None = None  # every epoch run: an upper bound
    max_hours: float = DEFAULT_MAX_HOURS

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def dry_run(paths: ProjectPaths, request: RunRequest, train_samples: int | None = None,
            probe: bool = True, val_samples: int | None = None,
            max_hours: float = DEFAULT_MAX_HOURS) -> DryRun:
    """Estimate a run. `train_samples` (when known) turns seconds per sample into per epoch;
    `reason` says why it would be refused (memory, or more than `max_hours`)."""
    use_all_cores()
    n_features = n_features_of(paths, request.tier)
    template = PatchTSTConfig(n_features=n_features, ctx_len=request.ctx_len,
                              dropout=request.dropout, **request.model_options)
    cfg = select_architecture(request.budget, n_features, request.ctx_len, request.arch, template)
    device = pick_device(request.device)
    available = int(available_memory_bytes(device) * MEMORY_HEADROOM)
    t = request.train
    est = estimate_run(cfg, batch_size=t.batch_size, max_epochs=t.max_epochs,
                       max_train_batches=t.max_train_batches, train_samples=train_samples,
                       val_samples=val_samples, device=device, available=available,
                       micro_batch=t.micro_batch, probe=probe)
    per_step = (est.seconds_per_sample * t.batch_size
                if est.seconds_per_sample is not None else None)
    reason = refusal("this run", est, est.run_hours, max_hours)
    return DryRun(request.tier, request.budget, n_features, est.n_params, cfg.to_dict(),
                  device.type, est.micro_batch, est.memory_bytes, available, est.fits, per_step,
                  train_samples, est.seconds_per_epoch, reason, est.seconds_per_sample, est.how,
                  est.run_hours, max_hours)
