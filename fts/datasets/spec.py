"""`DatasetSpec`: what a dataset is made of (tier, target, context length, split, normalisation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fts.core.errors import ConfigError
from fts.datasets.normalize import NORMALIZATIONS
from fts.datasets.splits import SplitPolicy
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
    """

    tier: str
    horizon: int
    threshold_pct: float
    ctx_len: int = 64
    split: SplitPolicy = field(default_factory=SplitPolicy)
    normalization: str = "revin"
    tickers: tuple[str, ...] | None = None

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
