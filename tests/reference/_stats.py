"""Window statistics and small numeric helpers for the reference features.

Every rolling statistic here is computed two-pass over an explicit window
(``sliding_window_view``), never with an online/running-sum algorithm, so that:

* a window is "defined" only when all of its ``n`` inputs are non-NaN;
* the zero tests of the spec are exact: a standard deviation is returned as
  exactly ``0.0`` when every value in its window is equal (decided by
  ``max == min``, not by comparing a float to 0), a range ``max - min`` is 0
  exactly when ``max == min``, and a mean/sum of non-negative values is 0
  exactly when every term is 0 (adding positive floats never gives 0).

All arrays are ``float64``; results have the length of the input, with NaN on
the first ``n - 1`` rows (the window includes the current row).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Array = np.ndarray


def as_float(x: Sequence[float] | Array) -> Array:
    """Return ``x`` as a 1-D float64 numpy array (a copy only when needed)."""
    return np.asarray(x, dtype=np.float64)


def windows(x: Array, n: int) -> Array:
    """Return the ``(len(x) - n + 1, n)`` view of trailing windows (empty when too short)."""
    if n < 1:
        raise ValueError(f"window must be >= 1, got {n}")
    x = as_float(x)
    if len(x) < n:
        return np.empty((0, n), dtype=np.float64)
    return sliding_window_view(x, n)


def place(values: Array, n: int, length: int) -> Array:
    """Put per-window ``values`` at rows ``n-1..length-1``; earlier rows are NaN."""
    out = np.full(length, np.nan)
    if length >= n:
        out[n - 1 :] = values
    return out


def _complete(w: Array) -> Array:
    """Boolean per window: True when the window holds no NaN."""
    return ~np.isnan(w).any(axis=1)


def rolling_mean(x: Array, n: int) -> Array:
    """Mean over the last ``n`` rows (current row included)."""
    w = windows(x, n)
    return place(w.mean(axis=1), n, len(x))


def rolling_sum(x: Array, n: int) -> Array:
    """Sum over the last ``n`` rows."""
    w = windows(x, n)
    return place(w.sum(axis=1), n, len(x))


def rolling_max(x: Array, n: int) -> Array:
    """Maximum over the last ``n`` rows (NaN if any input is NaN)."""
    w = windows(x, n)
    return place(w.max(axis=1), n, len(x))


def rolling_min(x: Array, n: int) -> Array:
    """Minimum over the last ``n`` rows (NaN if any input is NaN)."""
    w = windows(x, n)
    return place(w.min(axis=1), n, len(x))


def rolling_is_constant(x: Array, n: int) -> Array:
    """True where the ``n``-row window is complete and every value in it is equal."""
    w = windows(x, n)
    const = _complete(w) & (w.max(axis=1) == w.min(axis=1))
    out = np.zeros(len(x), dtype=bool)
    if len(x) >= n:
        out[n - 1 :] = const
    return out


def rolling_std(x: Array, n: int, ddof: int = 1) -> Array:
    """Standard deviation over the last ``n`` rows (sample by default).

    Exactly 0.0 when every value of the window is equal (``max == min``).
    """
    w = windows(x, n)
    if len(w) == 0:
        return np.full(len(x), np.nan)
    std = w.std(axis=1, ddof=ddof)
    std[w.max(axis=1) == w.min(axis=1)] = 0.0
    return place(std, n, len(x))


def rolling_quantile(x: Array, n: int, q: float) -> Array:
    """``q``-quantile over the last ``n`` rows, linear interpolation between order statistics."""
    w = windows(x, n)
    vals = np.full(len(w), np.nan)
    ok = _complete(w)
    if ok.any():
        vals[ok] = np.quantile(w[ok], q, axis=1, method="linear")
    return place(vals, n, len(x))


def rolling_share_le_current(x: Array, n: int) -> Array:
    """100 * share of the last ``n`` values (current included) that are <= the current value."""
    w = windows(x, n)
    share = 100.0 * (w <= w[:, -1:]).sum(axis=1) / n
    share[~_complete(w)] = np.nan
    return place(share, n, len(x))


def shift(x: Array, k: int) -> Array:
    """Value ``k`` rows earlier (``k >= 1``); NaN on the first ``k`` rows."""
    if k < 1:
        raise ValueError("only positive (causal) shifts are allowed")
    x = as_float(x)
    out = np.full(len(x), np.nan)
    if len(x) > k:
        out[k:] = x[:-k]
    return out


def diff(x: Array, k: int) -> Array:
    """``x_t - x_{t-k}``."""
    return as_float(x) - shift(x, k)


def pct_change(x: Array, k: int) -> Array:
    """Percent change over ``k`` rows: ``100 * (x_t / x_{t-k} - 1)``."""
    return 100.0 * (as_float(x) / shift(x, k) - 1.0)


def ratio(num: Array, den: Array, neutral: float | Array) -> Array:
    """``num / den`` with ``neutral`` where ``den == 0`` exactly (and ``num`` is defined).

    Callers pass denominators whose zero is exact by construction (see module doc).
    NaN in either input gives NaN; the result never contains an infinity from 0 division.
    """
    num = as_float(num)
    den = as_float(den)
    neutral_arr = np.broadcast_to(as_float(neutral), num.shape)
    out = np.full(num.shape, np.nan)
    valid = ~np.isnan(num) & ~np.isnan(den)
    zero = valid & (den == 0.0)
    nonzero = valid & ~zero
    out[nonzero] = num[nonzero] / den[nonzero]
    out[zero] = neutral_arr[zero]
    return out


def ema_seeded(x: Array, n: int) -> Array:
    """EMA with ``alpha = 2 / (n + 1)`` seeded with the mean of the first ``n`` valid values.

    The first output is at the ``n``-th valid (non-NaN) input. A NaN input after that
    gives NaN on its row and leaves the state unchanged (it is skipped). Explicit loop.
    """
    x = as_float(x)
    alpha = 2.0 / (n + 1.0)
    out = np.full(len(x), np.nan)
    seed: list[float] = []
    prev: float | None = None
    for i, value in enumerate(x):
        if np.isnan(value):
            continue
        if prev is None:
            seed.append(float(value))
            if len(seed) == n:
                prev = sum(seed) / n
                out[i] = prev
        else:
            prev = alpha * float(value) + (1.0 - alpha) * prev
            out[i] = prev
    return out


def stochastic(x: Array, n: int, neutral: float = 50.0) -> Array:
    """``100 * (x - min_n) / (max_n - min_n)``; ``neutral`` when the range is 0 (max == min)."""
    x = as_float(x)
    lo = rolling_min(x, n)
    hi = rolling_max(x, n)
    return ratio(100.0 * (x - lo), hi - lo, neutral)
