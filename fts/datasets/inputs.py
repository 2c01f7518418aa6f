"""Scale-free model inputs: each feature turned into a form that does not depend on the ticker's
price or volume scale, from the kind its tier declares (see docs/datasets.md).

The tier keeps every column as defined; only the dataset's copy changes, identically for
PatchTST and the baselines (both read the dataset's feature matrix). With `inputs = "raw"` the
features are used as stored.

| kind             | model input                                                          |
|------------------|----------------------------------------------------------------------|
| price_level      | x / close - 1 (the close of the same row)                            |
| price_difference | x / close                                                            |
| volume_scaled    | rolling z-score over the ticker's last 20 rows, today included;      |
|                  | 0 when those 20 values are all equal; undefined (null) on the first  |
|                  | 19 rows, so windows that contain them are dropped and counted        |
| scale_free       | x                                                                    |

Multiplying a ticker's prices (or its volumes) by a constant leaves every input unchanged up
to floating-point rounding: a level over the close and a difference over the close cancel the
price factor, and a z-score cancels any factor of its own series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fts.core.errors import ConfigError
from fts.features.declarations import KINDS, load_feature_project

INPUTS = ("scale_free", "raw")
ZSCORE_WINDOW = 20
TRANSFORMS = {
    "price_level": "x / close - 1 (close of the same row)",
    "price_difference": "x / close (close of the same row)",
    "volume_scaled": f"rolling z-score over the ticker's last {ZSCORE_WINDOW} rows (today "
    f"included, sample std); 0 when the {ZSCORE_WINDOW} values are equal; null before "
    f"{ZSCORE_WINDOW} rows",
    "scale_free": "x (unchanged)",
}


def declared_kinds(features_sql: Path, tier: str, feature_names: list[str]) -> list[str]:
    """The declared kind of each feature of `tier`, in `feature_names` order.

    Read from the tier's declarations (`features_sql/<tier>/<tier>.yml`); a feature of the
    build that the declarations do not list is a ConfigError naming it.
    """
    project = load_feature_project(features_sql)
    kinds = {c.name: c.kind for c in project.columns(tier)}
    missing = [n for n in feature_names if kinds.get(n) not in KINDS]
    if missing:
        raise ConfigError(
            f"tier {tier}: no declared kind for column(s) {', '.join(missing)}; declare `kind:` "
            f"in {features_sql / tier / (tier + '.yml')} or use inputs = 'raw'"
        )
    return [kinds[n] for n in feature_names]


def rolling_zscore(x: np.ndarray, offsets: np.ndarray, window: int = ZSCORE_WINDOW) -> np.ndarray:
    """Causal rolling z-score of one column, per ticker (rows `offsets[k]:offsets[k+1]`).

    Row t uses rows t-window+1..t of its own ticker: (x_t - mean) / std (ddof 1). A window whose
    values are all equal gives 0 (decided exactly, by max == min). NaN on the first window-1
    rows of each ticker and wherever the window holds a NaN (a null stays a gap).
    """
    out = np.full(x.shape[0], np.nan)
    for lo, hi in zip(offsets[:-1], offsets[1:], strict=True):
        if hi - lo < window:
            continue
        w = np.lib.stride_tricks.sliding_window_view(x[lo:hi], window)  # row t-window+1 .. t
        mean = w.mean(axis=1)
        std = w.std(axis=1, ddof=1)
        constant = w.max(axis=1) == w.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(constant, 0.0, (w[:, -1] - mean) / np.where(constant, 1.0, std))
        z[np.isnan(w).any(axis=1)] = np.nan
        out[lo + window - 1:hi] = z
    return out


def scale_free(features: np.ndarray, close: np.ndarray, offsets: np.ndarray,
               kinds: list[str]) -> np.ndarray:
    """The (n_rows, F) float64 matrix of scale-free inputs (see the module table).

    `close` is each row's close (the raw close of the ticker at the row's date), `offsets` the
    ticker boundaries of the rows. NaN stays NaN; new NaN appear only where a rolling z-score is
    not yet defined.
    """
    out = np.array(features, dtype=np.float64, copy=True)
    close = np.asarray(close, dtype=np.float64)
    for j, kind in enumerate(kinds):
        if kind == "price_level":
            out[:, j] = features[:, j] / close - 1.0
        elif kind == "price_difference":
            out[:, j] = features[:, j] / close
        elif kind == "volume_scaled":
            out[:, j] = rolling_zscore(features[:, j], offsets)
        elif kind != "scale_free":
            raise ConfigError(f"unknown column kind {kind!r}")
    return out


def manifest_entry(mode: str, feature_names: list[str], kinds: list[str] | None) -> dict[str, Any]:
    """What the dataset manifest records: the mode, and each feature's kind and transform."""
    if mode == "raw" or kinds is None:
        return {"mode": "raw", "note": "features used as the tier stores them"}
    return {
        "mode": mode,
        "zscore_window": ZSCORE_WINDOW,
        "features": {n: {"kind": k, "transform": TRANSFORMS[k]}
                     for n, k in zip(feature_names, kinds, strict=True)},
    }


def check_inputs(mode: str) -> None:
    """ConfigError unless `mode` is one of INPUTS."""
    if mode not in INPUTS:
        raise ConfigError(f"inputs {mode!r} is not one of {', '.join(INPUTS)}")
