"""What a training run will cost, from a probe of a few steps: seconds per sample, per epoch and
in total, and peak memory; and the one-line refusal of a run that cannot finish.

The probe never runs an epoch, and never a full-size step of a big model:

* Channel-independent PatchTST runs C token sequences per sample through one shared encoder,
  so its cost is C times that of a ONE-channel model of the same architecture (the "unit"
  model; its tensors are those of the real run with the sequences as batch rows). A mixed
  model is its own unit.
* Every encoder layer is the same work, so the unit model is probed with ONE layer and its
  time scaled by the ratio of training FLOPs (`models_torch.train_flops_per_sample`).
* Its forward + backward is timed (one warm-up, then `PROBE_STEPS`) on at least
  `PROBE_TOKENS` tokens (fewer would time reading the weights and cache-resident
  activations, not a real step), more while a
  pass stays under `PROBE_FLOPS`, never more than the real step; its AdamW update is timed
  apart (scaled to the real parameter count), since a run pays it once per batch.
  Seconds per sample = update / batch + multiplier x pass / micro-batch. Smaller passes run
  less efficiently than the real ones, so this errs high.

An a100 20M estimate takes seconds per architecture, where timing the real step took minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from fts.core.errors import FtsError
from fts.core.paths import ProjectPaths
from fts.features import load_feature_project
from models_torch import (
    PatchTST,
    PatchTSTConfig,
    count_parameters,
    estimate_training_memory,
    max_batch_size,
    train_flops_per_sample,
)

PROBE_FLOPS = 4e9  # training FLOPs of one timed probe pass: ~0.2-1 s on one CPU core
# Tokens of a probe pass at least (unless that exceeds 4 x PROBE_FLOPS): fewer time reading
# the weights, and activations that fit in cache, where a real step's do not.
PROBE_TOKENS = 1024
PROBE_STEPS = 2  # timed steps, after one warm-up
DEFAULT_MAX_HOURS = 24.0
EVAL_COST = 1.0 / 3.0  # a validation sample: forward only, a third of a training sample


def n_features_of(paths: ProjectPaths, tier: str) -> int:
    """Feature count of a tier, from its declaration (no build needed)."""
    return len(load_feature_project(paths.features_sql).columns(tier))


class CannotFinish(FtsError):
    """A run or search whose estimate exceeds the memory available or the time allowed."""


@dataclass(frozen=True)
class Probe:
    """Measured training seconds per sample of one architecture, and how they were measured."""

    seconds_per_sample: float
    how: str  # "measured", or "measured on 1 layer[, 1 channel]" (then scaled)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def probe_seconds_per_step(cfg: PatchTSTConfig, batch: int, micro: int,
                           device: torch.device) -> float:
    """Seconds of one optimizer step of `batch` samples in micro-batches of `micro`, from a
    few timed passes on random data of the right shape (after one warm-up)."""
    update, passes = _time_parts(cfg, micro, device)
    return update + math.ceil(batch / micro) * passes


def _time_parts(cfg: PatchTSTConfig, micro: int, device: torch.device) -> tuple[float, float]:
    """(seconds of one AdamW update, seconds of one forward + backward of `micro` samples)."""
    torch.manual_seed(0)
    model = PatchTST(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.randn(micro, cfg.ctx_len, cfg.n_features, device=device)
    y = torch.zeros(micro, device=device)

    def timed(fn: Callable[[], None]) -> float:
        fn()  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(PROBE_STEPS):
            fn()
        _sync(device)
        return (time.perf_counter() - t0) / PROBE_STEPS

    def passes() -> None:
        opt.zero_grad(set_to_none=False)
        loss_fn(model(x), y).backward()

    per_pass = timed(passes)
    return timed(opt.step), per_pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe_seconds_per_sample(cfg: PatchTSTConfig, batch_size: int,
                             device: torch.device) -> Probe:
    """Training seconds per sample of `cfg` at `batch_size`, from a few small timed passes.

    Probes a one-layer unit model (see the module docstring) and scales its passes by the
    ratio of training FLOPs (every layer is the same work); the AdamW update is timed apart
    and spread over the real batch: per sample = update / batch + multiplier x pass / micro.
    """
    multiplier = cfg.sequences_per_sample
    unit = cfg.replace(n_features=1) if multiplier > 1 else cfg
    probed = unit.replace(n_layers=1)
    cap = batch_size * multiplier  # the real step's sequences
    # At least PROBE_TOKENS tokens (fewer leave a pass bound by reading the weights), more
    # while a pass stays under PROBE_FLOPS; never more than the real step has.
    per_sequence = train_flops_per_sample(probed)
    micro = max(math.ceil(PROBE_TOKENS / probed.n_patches), math.floor(PROBE_FLOPS / per_sequence))
    micro = max(1, min(cap, micro, math.floor(4 * PROBE_FLOPS / per_sequence)))
    update, per_pass = _time_parts(probed, micro, device)
    per_pass *= train_flops_per_sample(unit) / train_flops_per_sample(probed)
    update *= count_parameters(cfg) / count_parameters(probed)
    how = "measured" if probed == cfg else f"measured on 1 layer{'' if multiplier == 1 else ', 1 channel'}"
    return Probe(update / batch_size + multiplier * per_pass / micro, how)


def fits_probe(cfg: PatchTSTConfig, available: int) -> bool:
    """Whether the probe's own models fit in memory (it builds the unit model, or 3 layers)."""
    unit = cfg.replace(n_features=1) if cfg.sequences_per_sample > 1 else cfg
    return max_batch_size(unit.replace(n_layers=min(unit.n_layers, 3)), available) >= 1


@dataclass(frozen=True)
class RunEstimate:
    """The cost of training one architecture: memory, and time per sample, epoch and run."""

    n_params: int
    train_flops_per_sample: float
    micro_batch: int
    memory_bytes: int
    memory_available_bytes: int
    fits: bool
    seconds_per_sample: float | None
    how: str
    train_samples: int | None
    val_samples: int | None
    seconds_per_epoch: float | None
    max_epochs: int
    device: str

    @property
    def run_hours(self) -> float | None:
        """Upper bound: every epoch runs (early stopping usually ends sooner)."""
        if self.seconds_per_epoch is None:
            return None
        return self.seconds_per_epoch * self.max_epochs / 3600

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "run_hours": self.run_hours}


def epoch_seconds(per_sample: float, train_samples: int, val_samples: int, batch_size: int,
                  max_train_batches: int) -> float:
    """Seconds of one epoch: its training samples (capped by the step cap) and a validation
    pass (forward only)."""
    seen = train_samples
    if max_train_batches:
        seen = min(seen, max_train_batches * batch_size)
    return per_sample * (seen + EVAL_COST * val_samples)


def estimate_run(cfg: PatchTSTConfig, *, batch_size: int, max_epochs: int,
                 max_train_batches: int, train_samples: int | None, val_samples: int | None,
                 device: torch.device, available: int, micro_batch: int = 0,
                 probe: bool = True, known: Probe | None = None) -> RunEstimate:
    """Estimate one architecture's run (probing its speed unless `probe` is False or its
    probe is `known`)."""
    fits_batch = max_batch_size(cfg, available)
    micro = micro_batch or min(batch_size, max(fits_batch, 1))
    memory = estimate_training_memory(cfg, micro)
    fits = fits_batch >= 1 and memory <= available
    per_sample, how = (known.seconds_per_sample, known.how) if known else (None, "-")
    if known is None and probe and fits and fits_probe(cfg, available):
        measured = probe_seconds_per_sample(cfg, batch_size, device)
        per_sample, how = measured.seconds_per_sample, measured.how
    per_epoch = None
    if per_sample is not None and train_samples is not None:
        per_epoch = epoch_seconds(per_sample, train_samples, val_samples or 0, batch_size,
                                  max_train_batches)
    return RunEstimate(count_parameters(cfg), train_flops_per_sample(cfg), micro, memory,
                       available, fits, per_sample, how, train_samples, val_samples,
                       per_epoch, max_epochs, device.type)


WAYS_FORWARD = ("a GPU", "--channels mixed", "fewer trials or epochs", "a higher --max-hours")


def refusal(what: str, estimate: RunEstimate | None, total_hours: float | None,
            max_hours: float) -> str | None:
    """The one-line reason `what` cannot finish, naming the ways forward; None when it can."""
    if estimate is not None and not estimate.fits:
        reason = (f"{what} would not fit in memory: it needs about "
                  f"{estimate.memory_bytes / 2**30:.1f} GiB at micro-batch "
                  f"{estimate.micro_batch}; {estimate.memory_available_bytes / 2**30:.1f} GiB "
                  f"available on {estimate.device}")
    elif total_hours is not None and total_hours > max_hours:
        reason = (f"{what} is estimated at {format_hours(total_hours)} on "
                  f"{estimate.device if estimate else 'this device'}, over --max-hours "
                  f"{max_hours:g}")
    else:
        return None
    return f"{reason}; not started. Ways forward: {', '.join(WAYS_FORWARD)}"


def format_hours(hours: float) -> str:
    """3.2 s / 4.1 min / 2.5 h / 118 days: the unit a person reads at a glance."""
    seconds = hours * 3600
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if hours < 72:
        return f"{hours:.1f} h"
    return f"{hours / 24:.0f} days"
