"""What a search will cost before it starts: the architectures it will try first (the centre and
the grid extremes), each with its real parameter count, peak memory and seconds per epoch from
a short probe (fts.train.estimate), and the study's total, an upper bound: every trial runs
every epoch, and the trials TPE samples cost as much as the dearest estimated architecture.
`fts hpo --dry-run` prints it and writes nothing; `fts hpo` prints it and refuses a study that
cannot finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fts.core.errors import FtsError
from fts.core.paths import ProjectPaths
from fts.datasets import split_counts
from fts.hpo.space import (
    CENTRE,
    SearchSpace,
    build_space,
    first_trials,
    key_channels,
    parse_arch_key,
)
from fts.hpo.study import StudySpec
from fts.train.device import available_memory_bytes, pick_device, use_all_cores
from fts.train.estimate import (
    DEFAULT_MAX_HOURS,
    RunEstimate,
    estimate_run,
    format_hours,
    n_features_of,
    refusal,
)
from fts.train.run import MEMORY_HEADROOM
from models_torch import PatchTSTConfig

BATCH = 64  # the middle of the searched batch sizes (32, 64, 128)


@dataclass(frozen=True)
class ArchCost:
    """One architecture the search will try, and its estimate."""

    label: str
    arch: str
    first: bool  # queued before TPE samples
    estimate: RunEstimate

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "arch": self.arch, "first": self.first,
                **self.estimate.to_dict()}


@dataclass(frozen=True)
class StudyEstimate:
    """A search's estimated cost, and why it would be refused (None when it can run)."""

    study: str
    tier: str
    budget: str
    channels: str
    device: str
    trials: int
    max_epochs: int
    train_samples: int | None
    val_samples: int | None
    archs: list[ArchCost] = field(default_factory=list)
    total_hours: float | None = None
    max_hours: float = DEFAULT_MAX_HOURS
    refusal: str | None = None
    folds: int = 1  # models per trial: one per walk-forward fold of the study's split

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "archs"},
                "archs": [a.to_dict() for a in self.archs]}

    def lines(self) -> list[str]:
        """The summary a person reads before the search starts."""
        samples = (f"{self.train_samples:,} training + {self.val_samples or 0:,} validation "
                   "samples" if self.train_samples is not None else "samples unknown")
        models = f" x {self.folds} fold models" if self.folds > 1 else ""
        out = [f"estimate for study {self.study} on {self.device}: {self.trials} trials{models} x "
               f"{self.max_epochs} epochs, {samples}, batch {BATCH}"]
        for a in self.archs:
            e = a.estimate
            mem = f"{e.memory_bytes / 2**30:6.2f} GiB"
            if not e.fits:
                cost = "DOES NOT FIT in memory: pruned before training"
            elif e.seconds_per_sample is None:
                cost = "time not probed"
            else:
                per_epoch = (f"{format_hours(e.seconds_per_epoch / 3600)}/epoch"
                             if e.seconds_per_epoch is not None else "epoch unknown")
                cost = f"{e.seconds_per_sample * 1000:9.2f} ms/sample  {per_epoch} ({e.how})"
            first = "first" if a.first else "     "
            out.append(f"  {first} {a.label[:44]:<44} {a.arch:<32} {e.n_params:>13,} params "
                       f"{mem}  {cost}")
        if self.total_hours is not None:
            out.append(f"  total, an upper bound (every model of every trial runs every epoch): "
                       f"{format_hours(self.total_hours)} (--max-hours {self.max_hours:g})")
        return out


def sample_counts(paths: ProjectPaths, spec: StudySpec) -> dict[str, int] | None:
    """Samples per split of the study's dataset, writing nothing; None when the tier is not
    built (or not current)."""
    request = spec.dataset_request()
    try:
        return split_counts(paths, request.dataset_spec(), common_start=request.common_start)
    except FtsError:
        return None


def estimate_study(paths: ProjectPaths, spec: StudySpec, n_trials: int, *,
                   counts: dict[str, int] | None, max_hours: float = DEFAULT_MAX_HOURS,
                   space: SearchSpace | None = None, probe: bool = True) -> StudyEstimate:
    """Estimate the study on the device `auto` picks; writes nothing."""
    use_all_cores()
    device = pick_device()
    available = int(available_memory_bytes(device) * MEMORY_HEADROOM)
    n_features = n_features_of(paths, spec.tier)
    space = space or build_space(spec.budget, n_features, spec.ctx_len, spec.channels,
                                 spec.model_options)
    first = first_trials(space, n_trials)
    centre = space.centre_key()
    chosen = [(CENTRE, centre)] + [e for e in space.extremes if e[1] != centre]
    first_keys = {key for _, key in first}
    train, val = (counts or {}).get("train"), (counts or {}).get("val")
    archs = []
    for label, key in chosen:
        cfg = PatchTSTConfig(n_features=n_features, ctx_len=spec.ctx_len,
                             channels=key_channels(key), **spec.model_options,
                             **parse_arch_key(key))
        est = estimate_run(cfg, batch_size=BATCH, max_epochs=spec.max_epochs,
                           max_train_batches=spec.max_train_batches, train_samples=train,
                           val_samples=val, device=device, available=available, probe=probe)
        archs.append(ArchCost(label, key, key in first_keys, est))
    hours = [a.estimate.run_hours for a in archs if a.estimate.fits]
    folds = max(1, spec.split.folds)
    total = None
    if hours and all(h is not None for h in hours):
        by_key = {a.arch: a.estimate.run_hours for a in archs if a.estimate.fits}
        queued = [by_key[k] for k in first_keys if k in by_key]
        # A trial trains one model per walk-forward fold (fts.train.folds), each on a fold
        # train region no larger than the train split the run hours assume: folds x bounds it.
        total = folds * (sum(queued) + (n_trials - len(queued)) * max(hours))  # type: ignore[arg-type]
    reason = refusal(f"study {spec.name}", archs[0].estimate, total, max_hours)
    return StudyEstimate(spec.name, spec.tier, spec.budget, spec.channels, device.type,
                         n_trials, spec.max_epochs, train, val, archs, total, max_hours, reason,
                         folds)
