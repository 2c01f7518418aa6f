"""a200_windows: the a200 columns computed over a window of closes with numpy.

- permutation_entropy_order3/4/5: Bandt-Pompe permutation entropy of the last 20 closes, and
  entropy_trend_5d (order 4 minus its value 5 rows earlier).
- days_since_52wk_high, days_since_52wk_low: rows since the earliest max / min of the last 252
  closes (not TA-Lib MAXINDEX / MININDEX, whose tie-breaking differs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from fts.features.indicators import as_float, nan_like

ENTROPY_WINDOW = 20
YEAR_ROWS = 252


def ordinal_patterns(x: np.ndarray, m: int) -> np.ndarray:
    """Pattern code of every m-tuple x[i .. i+m-1] (len(x) - m + 1 of them).

    The pattern is the rank vector rank_j = #{k: u_k < u_j, or u_k == u_j and k < j}: equal
    values are ranked by position, the earlier lower (the ranks of a stable sort). The rank
    vector, a permutation of 0..m-1, is encoded as the base-m number sum(rank_j * m^j): equal
    codes, equal patterns.
    """
    u = sliding_window_view(x, m)
    below = u[:, None, :] < u[:, :, None]  # [i, j, k]: u_k < u_j
    tied_before = (u[:, None, :] == u[:, :, None]) & np.tri(m, k=-1, dtype=bool)
    ranks = (below | tied_before).sum(axis=2)
    return ranks @ (m ** np.arange(m))


def permutation_entropy(close: np.ndarray, m: int, window: int = ENTROPY_WINDOW) -> np.ndarray:
    """PE_m over the last `window` closes: -sum(p ln p) / ln(m!), p over the window's
    window - m + 1 tuples; defined from row window - 1."""
    out = nan_like(close)
    if len(close) < window:
        return out
    n_tuples = window - m + 1
    # The pattern codes of the window's tuples (window q holds tuples q .. q + n_tuples - 1,
    # i.e. the window ending at row q + window - 1), sorted: equal patterns form runs, and a
    # run's length is that pattern's count.
    ids = np.sort(sliding_window_view(ordinal_patterns(close, m), n_tuples), axis=1)
    differs = ids[:, 1:] != ids[:, :-1]
    run_starts = np.c_[np.ones(len(ids), dtype=bool), differs]
    run_ends = np.c_[differs, np.ones(len(ids), dtype=bool)]
    position = np.arange(n_tuples)
    run_start = np.maximum.accumulate(np.where(run_starts, position, 0), axis=1)
    count = position - run_start + 1  # at a run's last position: the pattern's count
    # -p ln p for each possible count c = 1 .. n_tuples (p = c / n_tuples).
    share = np.arange(1, n_tuples + 1) / n_tuples
    term = np.r_[0.0, -share * np.log(share)]
    entropy = np.where(run_ends, term[count], 0.0).sum(axis=1)
    # Rounding can put a uniform spread a few ulps above 1: the value is a share, so clip.
    out[window - 1 :] = np.clip(entropy / math.log(math.factorial(m)), 0.0, 1.0)
    return out


def days_since_extreme(close: np.ndarray, n: int, kind: str) -> np.ndarray:
    """t minus the row of the max (kind='max') or min of the last n closes, the earliest on a
    tie (argmax / argmin return the first occurrence); defined from row n - 1."""
    out = nan_like(close)
    if len(close) >= n:
        windows = sliding_window_view(close, n)
        first = windows.argmax(axis=1) if kind == "max" else windows.argmin(axis=1)
        out[n - 1 :] = (n - 1) - first
    return out


def _columns(g: pd.DataFrame) -> pd.DataFrame:
    """The window columns for one ticker's rows (whole history, sorted by date)."""
    close = as_float(g["close"])
    order3, order4, order5 = (permutation_entropy(close, m) for m in (3, 4, 5))
    trend = nan_like(close)
    trend[5:] = order4[5:] - order4[:-5]
    return pd.DataFrame(
        {
            "permutation_entropy_order3": order3,
            "permutation_entropy_order4": order4,
            "permutation_entropy_order5": order5,
            "entropy_trend_5d": trend,
            "days_since_52wk_high": days_since_extreme(close, YEAR_ROWS, "max"),
            "days_since_52wk_low": days_since_extreme(close, YEAR_ROWS, "min"),
        }
    )


def model(ctx):
    """One row per raw (ticker, date), untrimmed."""
    return ctx.per_ticker(ctx.source("ohlcv"), _columns)
