"""`RunRequest`: everything that defines one training run, before it is resolved."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fts.core.errors import ConfigError
from fts.datasets import MIN_VAL_POSITIVES, SELECTION_SPLIT, DatasetSpec, SplitPolicy
from fts.train.config import TrainConfig
from fts.train.final import FinalPlan
from fts.train.levels import DEFAULT_NORMALIZATION, level_options
from models_torch import CHANNEL_MODES

PURPOSES = ("train", "trial", "final")

# The split of a single run (`fts train`): it early-stops and picks its threshold on `val`
# alone, so `val` is ONE block of the 600 trading days that SELECTION_SPLIT's walk-forward
# blocks cover together (same test span), and the positives rule, which counts `val` for a
# split without folds, counts exactly the data the run chooses on (75 positives on the
# sample at h = 1, +1 %, where SELECTION_SPLIT's last block alone holds 8).
SINGLE_RUN_SPLIT = SplitPolicy(val_days=SELECTION_SPLIT.folds * SELECTION_SPLIT.val_days,
                               test_days=SELECTION_SPLIT.test_days)


@dataclass(frozen=True)
class RunRequest:
    """What to train: tier, target, budget, architecture overrides and training settings."""

    tier: str
    budget: str
    horizon: int
    threshold_pct: float
    ctx_len: int = 64
    arch: dict[str, int] = field(default_factory=dict)  # d_model, n_layers, n_heads, d_ff, patch_len, stride
    dropout: float = 0.2  # model dropout (attention output and feed-forward)
    train: TrainConfig = field(default_factory=TrainConfig)
    device: str = "auto"
    # Test = the last 270 trading days; one 600-day validation block (searches, experiments
    # and their fold runs pass SELECTION_SPLIT: 3 walk-forward blocks of 200 days).
    split: SplitPolicy = SINGLE_RUN_SPLIT
    # How the model sees each channel's level (see fts.train.levels): the dataset's
    # normalization ("revin" turns the model's RevIN on) and RevIN's window stats to the head
    # (None: on with RevIN; resolved to a bool when the request is made).
    normalization: str = DEFAULT_NORMALIZATION
    revin_stats: bool | None = None
    tickers: tuple[str, ...] | None = None
    inputs: str = "scale_free"  # model inputs made independent of price/volume scale (or "raw")
    min_val_positives: int = MIN_VAL_POSITIVES  # refuse selection data with fewer positives
    # Train on walk-forward fold `fold` (its train and val blocks) instead of train/val; None:
    # the plain split (the last fold). fts.train.folds sets it for a trial's per-fold models.
    fold: int | None = None
    channels: str = "independent"  # PatchTST channel mode: "independent" or "mixed"
    # Refuse the run before training when its estimate exceeds this many hours (None: never;
    # search trials are checked once, for the whole study).
    max_hours: float | None = None
    common_start: dt.date | None = None
    evaluate_test: bool = True  # the test split is evaluated once, when the run is made
    purpose: str = "train"
    study: str | None = None
    trial_number: int | None = None
    # The study manifest a final run's settings came from (id, trials_sha256): a run input.
    study_manifest: tuple[str, str] | None = None
    # A final run's epoch count and threshold, taken from its study's best trial's folds
    # (fts.train.final); it then trains on train + val with no early stopping.
    final: FinalPlan | None = None

    def __post_init__(self) -> None:
        if self.channels not in CHANNEL_MODES:
            raise ConfigError(f"channels {self.channels!r}: use one of {', '.join(CHANNEL_MODES)}")
        if (self.purpose == "final") != (self.final is not None) or (
                self.final is not None and (self.fold is not None or not self.evaluate_test)):
            raise ConfigError("a final run (purpose 'final') needs its FinalPlan, evaluates the "
                              "test split and trains on no fold; other runs take no FinalPlan")
        # Validates the pair and resolves an unset revin_stats, so every later reader sees a bool.
        stats = level_options(self.normalization, self.revin_stats)["revin_stats"]
        object.__setattr__(self, "revin_stats", stats)

    @property
    def model_options(self) -> dict[str, Any]:
        """The model fields this request decides besides the architecture: RevIN and its
        stats path (from `normalization` and `revin_stats`) and the channel mode."""
        return {**level_options(self.normalization, self.revin_stats), "channels": self.channels}

    def dataset_spec(self) -> DatasetSpec:
        return DatasetSpec(tier=self.tier, horizon=self.horizon, threshold_pct=self.threshold_pct,
                           ctx_len=self.ctx_len, split=self.split,
                           normalization=self.normalization, tickers=self.tickers,
                           inputs=self.inputs, min_val_positives=self.min_val_positives)

    def with_train(self, **changes: Any) -> RunRequest:
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))
