"""`DatasetSpec`: what a dataset is made of (tier, target, context length, split, normalisation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fts.core.errors import ConfigError
from fts.datasets.inputs import check_inputs
from fts.datasets.normalize import NORMALIZATIONS
from fts.datasets.splits import MIN_VAL_POSITIVES, SplitPolicy
from fts.datasets.targets import TargetSpec


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset declaration. Equal specs on the same tier build give the same dataset.

    tier: the tier whose CURRENT build provides the features.
    horizon, threshold_pct: the `threshold_{p}pct` target (see fts.datasets.targets).
    ctx_len: rows per context window (the sample's own row and the ctx_len-1 before it).
    split: how train/val/test dates are chosen (see SplitPolicy).
    normalization: "revin" (in the model; features stay raw), "train_zscore" or "none".
    tickers: a subset of the tier's tickers (stored sorted), or None for all of them.
    inputs: "raw" (the tier's values) or "scale_free" (each feature made independent of the
      price and volume scale from its declared kind; see fts.datasets.inputs). The default is
      "raw" so that a manifest written before the option existed reads back as what it was;
      `fts train`, `fts hpo` and the studies ask for "scale_free".
    min_val_positives: the selection data (validation, summed over walk-forward folds) must
      hold at least this many positive labels, else the build is refused; 0 disables the rule.
    """

    tier: str
    horizon: int
    threshold_pct: float
    ctx_len: int = 64
    split: SplitPolicy = field(default_factory=SplitPolicy)
    normalization: str = "revin"
    tickers: tuple[str, ...] | None = None
    inputs: str = "raw"
    min_val_positives: int = MIN_VAL_POSITIVES

    def __post_init__(self) -> None:
        if not self.tier or not isinstance(self.tier, str):
            raise ConfigError(f"dataset tier must be a tier name, got {self.tier!r}")
        target = TargetSpec(self.horizon, self.threshold_pct)  # validates both
        object.__setattr__(self, "horizon", target.horizon)
        object.__setattr__(self, "threshold_pct", target.threshold_pct)
        if isinstance(self.ctx_len, bool) or int(self.ctx_len) != self.ctx_len or self.ctx_len < 1:
            raise ConfigError(f"ctx_len must be a positive integer, got {self.ctx_len!r}")
        object.__setattr__(self, "ctx_len", int(self.ctx_len))
        if isinstance(self.split, dict):
            object.__setattr__(self, "split", SplitPolicy.from_dict(self.split))
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"normalization {self.normalization!r} is not one of {', '.join(NORMALIZATIONS)}"
            )
        check_inputs(self.inputs)
        if (isinstance(self.min_val_positives, bool) or int(self.min_val_positives) != self.min_val_positives
                or self.min_val_positives < 0):
            raise ConfigError(f"min_val_positives must be an integer >= 0, got {self.min_val_positives!r}")
        object.__setattr__(self, "min_val_positives", int(self.min_val_positives))
        if self.tickers is not None:
            if isinstance(self.tickers, str):
                raise ConfigError("tickers must be a sequence of ticker names, not one string")
            tickers = tuple(sorted(set(self.tickers)))
            if not tickers:
                raise ConfigError("tickers, when given, must name at least one ticker")
            object.__setattr__(self, "tickers", tickers)

    @property
    def target(self) -> TargetSpec:
        return TargetSpec(self.horizon, self.threshold_pct)

    @property
    def label(self) -> str:
        """A readable name: `a20-threshold_1pct-h1-ctx64`."""
        return f"{self.tier}-{self.target.name}-h{self.horizon}-ctx{self.ctx_len}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; `DatasetSpec.from_dict(spec.to_dict()) == spec`."""
        return {
            "tier": self.tier,
            "horizon": self.horizon,
            "threshold_pct": self.threshold_pct,
            "ctx_len": self.ctx_len,
            "split": self.split.to_dict(),
            "normalization": self.normalization,
            "tickers": list(self.tickers) if self.tickers is not None else None,
            "inputs": self.inputs,
            "min_val_positives": self.min_val_positives,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSpec:
        """Inverse of `to_dict`; unknown keys are a ConfigError."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown dataset option(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if "split" in d and isinstance(d["split"], dict):
            d["split"] = SplitPolicy.from_dict(d["split"])
        if d.get("tickers") is not None:
            d["tickers"] = tuple(d["tickers"])
        missing = {"tier", "horizon", "threshold_pct"} - set(d)
        if missing:
            raise ConfigError(f"dataset spec is missing {', '.join(sorted(missing))}")
        return cls(**d)
