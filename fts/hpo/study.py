"""`StudySpec`: what a study searches over. Its fields are the study's attributes; a study name
reused with different ones is refused, never mixed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from fts.core.errors import ConfigError
from fts.datasets import MIN_VAL_POSITIVES, SELECTION_SPLIT, SplitPolicy
from fts.train.config import TrainConfig
from fts.train.levels import DEFAULT_NORMALIZATION, level_options
from fts.train.request import RunRequest

NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,80}$")


@dataclass(frozen=True)
class StudySpec:
    """A study: tier, budget, target, context and the fixed training settings of its trials."""

    tier: str
    budget: str
    horizon: int = 1
    threshold_pct: float = 1.0
    ctx_len: int = 64
    seed: int = 0
    name: str = ""
    max_epochs: int = 30
    patience: int = 5
    max_train_batches: int = 0
    split: SplitPolicy = SELECTION_SPLIT  # trials train one model per walk-forward fold
    common_start: dt.date | None = None
    tickers: tuple[str, ...] | None = None
    inputs: str = "scale_free"
    min_val_positives: int = MIN_VAL_POSITIVES
    channels: str = "independent"  # "independent", "mixed", or "search" (both are choices)
    # How the model sees each channel's level (fts.train.levels): the dataset's normalization
    # and RevIN's window statistics fed to the head (None: on with RevIN); fixed for the study.
    normalization: str = DEFAULT_NORMALIZATION
    revin_stats: bool | None = None

    def __post_init__(self) -> None:
        if self.channels not in ("independent", "mixed", "search"):
            raise ConfigError(f"channels {self.channels!r}: use independent, mixed or search")
        # Validates the pair and resolves an unset revin_stats (the identity stores a bool).
        stats = level_options(self.normalization, self.revin_stats)["revin_stats"]
        object.__setattr__(self, "revin_stats", stats)
        if not self.name:
            label = f"{self.tier}-{self.budget}-h{self.horizon}-p{self.threshold_pct:g}"
            object.__setattr__(self, "name", label)
        if not NAME_RE.match(self.name):
            raise ConfigError(f"study name {self.name!r}: use letters, digits and _ . : - only")

    def identity(self, dataset_manifest_id: str) -> dict[str, Any]:
        """The attributes that must match for a study to be resumed."""
        return {"tier": self.tier, "budget": self.budget, "horizon": self.horizon,
                "threshold_pct": self.threshold_pct, "ctx_len": self.ctx_len,
                "dataset_manifest_id": dataset_manifest_id, "seed": self.seed,
                "max_epochs": self.max_epochs, "patience": self.patience,
                "max_train_batches": self.max_train_batches, "channels": self.channels,
                "normalization": self.normalization, "revin_stats": self.revin_stats}

    @property
    def model_options(self) -> dict[str, bool]:
        """The model fields fixed for every trial: RevIN and its stats path."""
        return level_options(self.normalization, self.revin_stats)

    def train_config(self, params: dict[str, Any], trial_number: int) -> TrainConfig:
        """The trial's training settings: sampled ones plus the study's fixed ones."""
        return TrainConfig(lr=params["lr"], weight_decay=params["weight_decay"],
                           warmup_frac=params["warmup_frac"], batch_size=params["batch_size"],
                           max_epochs=self.max_epochs, patience=self.patience,
                           max_train_batches=self.max_train_batches,
                           seed=self.seed + trial_number)

    def dataset_request(self) -> RunRequest:
        """A request for the study's dataset (tier, target, context, split, tickers)."""
        return RunRequest(tier=self.tier, budget=self.budget, horizon=self.horizon,
                          threshold_pct=self.threshold_pct, ctx_len=self.ctx_len,
                          split=self.split, common_start=self.common_start,
                          tickers=self.tickers, inputs=self.inputs,
                          min_val_positives=self.min_val_positives,
                          normalization=self.normalization, revin_stats=self.revin_stats)

    def replace(self, **changes: Any) -> StudySpec:
        return dataclasses.replace(self, **changes)
