"""Pure numpy / TA-Lib helpers that the Python feature models in `features_sql/` import.

Every helper takes one ticker's series, ordered by date from its first row, and returns float64
arrays of the same length, NaN where the value is not defined yet (the warm-up). Everything is
causal: the value at row t reads rows <= t only, so truncating the input never changes earlier
outputs. Zero tests are exact (a range is 0 when max == min over the window, never `abs(x) < eps`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import talib


def as_float(values: Any) -> np.ndarray:
    """A contiguous float64 copy of `values`, with pandas NA / None turned into NaN."""
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy(dtype=float, na_value=np.nan).copy()
    return np.array(values, dtype=float)


def nan_like(x: np.ndarray) -> np.ndarray:
    """An all-NaN float64 array as long as `x`."""
    return np.full(len(x), np.nan)


def first_valid(x: np.ndarray) -> int | None:
    """Index of the first non-NaN value of `x`, or None when there is none."""
    idx = np.flatnonzero(~np.isnan(x))
    return int(idx[0]) if idx.size else None


def all_missing(x: np.ndarray) -> bool:
    """True when no value of `x` is defined (e.g. a ticker without volume data)."""
    return bool(np.isnan(x).all())


def ema_seeded(x: Any, n: int) -> np.ndarray:
    """EMA with alpha = 2/(n+1), seeded with the mean of the first n valid values of `x`.

    TA-Lib's EMA seeds with the SMA of its first n inputs, so it is called on the slice that
    starts at the first valid value; the first defined output is at first_valid + n - 1.
    """
    x = as_float(x)
    out = nan_like(x)
    start = first_valid(x)
    if start is None or len(x) - start < n:
        return out
    out[start:] = talib.EMA(x[start:], timeperiod=n)
    return out


def _window_reduce(x: np.ndarray, n: int, reducer: Any) -> np.ndarray:
    # NaN propagates through np.max/np.min, so a window with a missing input stays undefined.
    out = nan_like(x)
    if len(x) >= n:
        out[n - 1 :] = reducer(np.lib.stride_tricks.sliding_window_view(x, n), axis=1)
    return out


def rolling_max(x: Any, n: int) -> np.ndarray:
    """Max over the n rows ending at each row (current row included); NaN until n inputs exist."""
    return _window_reduce(as_float(x), n, np.max)


def rolling_min(x: Any, n: int) -> np.ndarray:
    """Min over the n rows ending at each row (current row included); NaN until n inputs exist."""
    return _window_reduce(as_float(x), n, np.min)


def rolling_flat(x: Any, n: int) -> np.ndarray:
    """True where every one of the n values ending at the row is equal (max == min, exactly)."""
    x = as_float(x)
    return rolling_max(x, n) == rolling_min(x, n)


def rolling_stochastic(x: Any, n: int, neutral: float = 50.0) -> np.ndarray:
    """100 * (x - min_n) / (max_n - min_n); `neutral` when the range is exactly 0 (all equal)."""
    x = as_float(x)
    lo, hi = rolling_min(x, n), rolling_max(x, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 * (x - lo) / (hi - lo)
    out = np.where(hi == lo, neutral, value)
    out[np.isnan(lo) | np.isnan(x)] = np.nan
    return out


def percent_b(close: Any, upper: Any, lower: Any, n: int) -> np.ndarray:
    """Bollinger %B = (close - lower) / (upper - lower); 0.5 when the bands coincide.

    The bands coincide when the n closes are all equal (decided exactly on the closes, since
    TA-Lib's running-sum variance can leave a rounding residue) or when TA-Lib returns
    upper == lower itself.
    """
    close, upper, lower = as_float(close), as_float(upper), as_float(lower)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (close - lower) / (upper - lower)
    out = np.where((upper == lower) | rolling_flat(close, n), 0.5, value)
    out[np.isnan(upper) | np.isnan(lower)] = np.nan
    return out


def schaff_trend_cycle(
    close: Any, fast: int = 23, slow: int = 50, signal: int = 10, cycle: int = 10,
    smooth: int = 3,
) -> np.ndarray:
    """Schaff trend cycle on TA-Lib's MACD(close, fast, slow, signal) line.

    k1 = cycle-row stochastic of the MACD line (50 on a zero range), d1 = seeded EMA(smooth) of
    k1, k2 = cycle-row stochastic of d1, stc = seeded EMA(smooth) of k2 clipped to [0, 100].
    """
    close = as_float(close)
    macd_line = talib.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=signal)[0]
    k1 = rolling_stochastic(macd_line, cycle, 50.0)
    d1 = ema_seeded(k1, smooth)
    k2 = rolling_stochastic(d1, cycle, 50.0)
    return np.clip(ema_seeded(k2, smooth), 0.0, 100.0)


def klinger(
    high: Any, low: Any, close: Any, volume: Any, fast: int = 34, slow: int = 55,
    signal: int = 13,
) -> tuple[np.ndarray, np.ndarray]:
    """Klinger volume oscillator: returns (KVO, signal line).

    T_t = +1 if (h+l+c)_t > (h+l+c)_{t-1} else -1; dm = high - low; cm_t = cm_{t-1} + dm_t while
    the trend holds, dm_{t-1} + dm_t when it flips (cm = dm on the second row);
    VF = volume * |2 dm/cm - 1| * T * 100 (0 when cm = 0; cm is a sum of non-negative ranges, so
    cm == 0 is exact). KVO = EMA_fast(VF) - EMA_slow(VF), each seeded from the first values of
    VF; signal = EMA_signal(KVO). All NaN when volume is missing throughout.
    """
    high, low, close, volume = (as_float(a) for a in (high, low, close, volume))
    n = len(close)
    if n < 2 or all_missing(volume):
        return nan_like(close), nan_like(close)
    hlc = high + low + close
    trend = nan_like(close)
    trend[1:] = np.where(hlc[1:] > hlc[:-1], 1.0, -1.0)
    dm = high - low
    cm = nan_like(close).tolist()  # Python floats: the loop runs ~3x faster than on numpy items
    tr, d = trend.tolist(), dm.tolist()
    cm[1] = d[1]
    for t in range(2, n):  # recursive: the running sum restarts whenever the trend flips
        cm[t] = cm[t - 1] + d[t] if tr[t] == tr[t - 1] else d[t - 1] + d[t]
    cm = np.array(cm, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vf = volume * np.abs(2.0 * dm / cm - 1.0) * trend * 100.0
    vf = np.where(cm == 0, 0.0, vf)
    vf[np.isnan(cm) | np.isnan(volume) | np.isnan(trend)] = np.nan
    kvo = ema_seeded(vf, fast) - ema_seeded(vf, slow)
    return kvo, ema_seeded(kvo, signal)


def supertrend(
    high: Any, low: Any, close: Any, period: int = 10, multiplier: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """SuperTrend on TA-Lib ATR(period): returns (supertrend line, direction +1/-1).

    Basic bands are hl2 +- multiplier * ATR. On ATR's first row the final bands are the basic
    bands and the trend is bearish. After it the final upper band only moves down (it resets to
    the basic band when that is lower or when the previous close broke above it), the lower band
    mirrors it; a bearish trend turns bullish when close > this row's final upper band, a
    bullish one turns bearish when close < this row's final lower band. The line is the final
    lower band while bullish and the final upper band while bearish.
    """
    high, low, close = as_float(high), as_float(low), as_float(close)
    atr = talib.ATR(high, low, close, timeperiod=period)
    hl2 = (high + low) / 2.0
    basic_upper, basic_lower = hl2 + multiplier * atr, hl2 - multiplier * atr
    line, direction = nan_like(close), nan_like(close)
    start = first_valid(atr)
    if start is None:
        return line, direction
    # The loop runs on Python floats (lists), ~3x faster than indexing numpy arrays item by item.
    b_up, b_lo, c = basic_upper.tolist(), basic_lower.tolist(), close.tolist()
    lines, directions = line.tolist(), direction.tolist()
    upper, lower = b_up[start], b_lo[start]
    trend = -1.0
    lines[start], directions[start] = upper, trend
    for t in range(start + 1, len(c)):  # recursive: each band depends on its previous value
        if b_up[t] < upper or c[t - 1] > upper:
            upper = b_up[t]
        if b_lo[t] > lower or c[t - 1] < lower:
            lower = b_lo[t]
        if trend < 0 and c[t] > upper:
            trend = 1.0
        elif trend > 0 and c[t] < lower:
            trend = -1.0
        lines[t], directions[t] = (lower if trend > 0 else upper), trend
    return np.array(lines, dtype=float), np.array(directions, dtype=float)


def days_since_sign_change(x: Any) -> np.ndarray:
    """Rows since the sign of `x` last changed (to or from 0 included).

    0 on the row where the sign changes and on x's first defined row; NaN before it.
    """
    x = as_float(x)
    out = nan_like(x)
    start = first_valid(x)
    if start is None:
        return out
    sign = np.sign(x[start:])
    idx = np.arange(sign.size)
    resets = np.zeros(sign.size, dtype=bool)
    resets[0] = True
    resets[1:] = sign[1:] != sign[:-1]
    last_reset = np.maximum.accumulate(np.where(resets, idx, 0))
    out[start:] = idx - last_reset
    return out


def week_ids(dates: Any) -> np.ndarray:
    """Monday-based calendar week number of each date (weeks run Monday..Sunday)."""
    days = pd.to_datetime(pd.Series(dates)).to_numpy().astype("datetime64[D]").astype(np.int64)
    # 1970-01-01 was a Thursday: shifting by 3 days puts each Monday at a multiple of 7.
    return (days + 3) // 7


def weekly_bars(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Calendar-week bars of a daily frame (date, open, high, low, close, volume).

    Returns (bars, bar_of_day): one bar per week that has rows (the first, possibly partial,
    week included): open = first open, high = max, low = min, close = last close, volume = sum
    (NaN when the week has no volume); bar_of_day[i] is the index of the bar holding row i.
    """
    week = week_ids(frame["date"])
    new_bar = np.r_[True, week[1:] != week[:-1]]
    starts = np.flatnonzero(new_bar)
    bar_of_day = np.cumsum(new_bar) - 1
    ends = np.r_[starts[1:], len(week)] - 1

    def per_bar(values: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
        # ufunc.reduceat reduces each bar's rows in order, as a loop over the slices would.
        return ufunc.reduceat(values, starts)

    volume = as_float(frame["volume"])
    has_volume = ~np.isnan(volume)
    volume_sum = per_bar(np.where(has_volume, volume, 0.0), np.add)
    bars = pd.DataFrame(
        {
            "open": as_float(frame["open"])[starts],
            "high": per_bar(as_float(frame["high"]), np.maximum),
            "low": per_bar(as_float(frame["low"]), np.minimum),
            "close": as_float(frame["close"])[ends],
            # NaN for a week without any volume, else the sum of the volumes it has.
            "volume": np.where(per_bar(has_volume.astype(np.int64), np.add) > 0, volume_sum,
                               np.nan),
        }
    )
    return bars, bar_of_day


def last_completed_week(weekly_values: Any, bar_of_day: np.ndarray) -> np.ndarray:
    """Give each daily row the weekly value of the previous bar (the last completed week).

    A row never sees its own, unfinished week; rows of the first week get NaN.
    """
    weekly_values = as_float(weekly_values)
    out = np.full(len(bar_of_day), np.nan)
    prev = bar_of_day - 1
    has_prev = prev >= 0
    out[has_prev] = weekly_values[prev[has_prev]]
    return out
