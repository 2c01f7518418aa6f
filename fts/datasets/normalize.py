"""Feature normalisation that never looks at validation or test data.

- "revin" (default): the dataset leaves features raw; the model normalises each sample's
  window by its own mean/std (reversible instance normalisation), so no statistic is shared
  across samples, let alone across splits.
- "train_zscore": per-feature mean and std (ddof=0) over the rows inside at least one TRAIN
  window (with walk-forward folds: fold0's train, the rows every fold trains on, so no fold
  sees statistics of its own validation block); stored in the manifest and applied to every
  row. A feature that is constant on those rows gets std 1 (it becomes 0, not NaN).
- "none": raw features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fts.core.errors import ValidationError
from fts.datasets.windows import covered_rows

NORMALIZATIONS = ("revin", "train_zscore", "none")


def zscore_stats(
    features: np.ndarray, train_ends: np.ndarray, ctx: int, feature_names: list[str]
) -> dict[str, Any]:
    """Mean and std of each feature over the rows covered by the training windows."""
    rows = covered_rows(train_ends, ctx, features.shape[0])
    block = features[rows].astype(np.float64)
    if block.shape[0] == 0:
        raise ValidationError("train_zscore: no training rows to compute statistics on", source="dataset")
    if not np.isfinite(block).all():
        bad = int(np.flatnonzero(~np.isfinite(block).all(axis=0))[0])
        raise ValidationError(
            f"train_zscore: feature {feature_names[bad]!r} is not finite on a training row",
            source="dataset",
        )
    mean = block.mean(axis=0)
    std = block.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return {
        "computed_on": "rows inside training windows",
        "rows": int(block.shape[0]),
        "mean": [float(x) for x in mean],
        "std": [float(x) for x in std],
    }


def apply_zscore(features: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """(features - mean) / std with the stored statistics, in float64."""
    mean = np.asarray(stats["mean"], dtype=np.float64)
    std = np.asarray(stats["std"], dtype=np.float64)
    return (features.astype(np.float64) - mean) / std
