"""Reference for the ``vix`` tier: statistics over ^VIX's own rows, as-of joined by date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._indicators import to_days
from ._stats import Array, pct_change, ratio, rolling_mean, rolling_std, windows

VIX_COLUMNS: list[str] = [
    "vix_close",
    "vix_sma_10",
    "vix_sma_20",
    "vix_percentile_60d",
    "vix_zscore_20d",
    "vix_regime",
    "vix_change_1d",
    "vix_change_5d",
]

#: The as-of join accepts a VIX row at most this many calendar days older than the date.
MAX_STALENESS_DAYS = 5


def vix_percentile(close: Array, previous: int = 59) -> Array:
    """100 * (count of the previous ``previous`` closes strictly below today's) / ``previous``."""
    n = previous + 1
    w = windows(close, n)
    out = np.full(len(close), np.nan)
    if len(w):
        below = (w[:, :-1] < w[:, -1:]).sum(axis=1)
        vals = 100.0 * below / previous
        vals[np.isnan(w).any(axis=1)] = np.nan
        out[n - 1 :] = vals
    return out


def vix_regime(close: Array) -> Array:
    """0 if vix < 15, 1 if 15 <= vix < 25, 2 if vix >= 25; NaN stays NaN."""
    out = np.full(len(close), np.nan)
    ok = ~np.isnan(close)
    out[ok] = np.where(close[ok] < 15.0, 0.0, np.where(close[ok] < 25.0, 1.0, 2.0))
    return out


def vix_own_rows(vix: pd.DataFrame) -> pd.DataFrame:
    """The 8 vix columns on ^VIX's own rows (rows without a close are dropped, not rows).

    Returns a frame with ``date`` (datetime64[D] values) and the :data:`VIX_COLUMNS`.
    """
    frame = pd.DataFrame(
        {"date": to_days(vix["date"]), "close": pd.to_numeric(vix["close"], errors="coerce")}
    )
    frame = frame.dropna(subset=["close"]).sort_values("date", kind="stable")
    frame = frame.reset_index(drop=True)
    close = frame["close"].to_numpy(dtype=np.float64)
    mean20 = rolling_mean(close, 20)
    cols = {
        "vix_close": close,
        "vix_sma_10": rolling_mean(close, 10),
        "vix_sma_20": mean20,
        "vix_percentile_60d": vix_percentile(close, 59),
        "vix_zscore_20d": ratio(close - mean20, rolling_std(close, 20), 0.0),
        "vix_regime": vix_regime(close),
        "vix_change_1d": pct_change(close, 1),
        "vix_change_5d": pct_change(close, 5),
    }
    return pd.DataFrame({"date": frame["date"].to_numpy(), **cols})


def reference_vix(vix: pd.DataFrame, dates: pd.Series) -> pd.DataFrame:
    """As-of join of the vix columns onto ``dates``.

    The value at date t is that of the latest VIX row dated <= t, if it is at most
    :data:`MAX_STALENESS_DAYS` calendar days old; otherwise (or with no such row) the
    8 columns are NaN. Result is indexed 0..n-1 aligned with ``dates``.
    """
    own = vix_own_rows(vix)
    target = to_days(dates)
    vix_days = own["date"].to_numpy().astype("datetime64[D]")
    idx = np.searchsorted(vix_days, target, side="right") - 1
    has_row = idx >= 0
    age = np.full(len(target), np.iinfo(np.int64).max, dtype=np.int64)
    age[has_row] = (target[has_row] - vix_days[idx[has_row]]).astype(np.int64)
    usable = has_row & (age <= MAX_STALENESS_DAYS)
    out = {}
    for col in VIX_COLUMNS:
        values = own[col].to_numpy(dtype=np.float64)
        joined = np.full(len(target), np.nan)
        joined[usable] = values[idx[usable]]
        out[col] = joined
    return pd.DataFrame(out, index=pd.RangeIndex(len(target)))
