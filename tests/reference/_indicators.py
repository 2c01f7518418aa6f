"""Recursive / bespoke indicators of the reference (explicit loops where the spec recurses).

Nothing here calls TA-Lib except where a caller passes a TA-Lib output in (e.g. the
ATR handed to :func:`supertrend`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._stats import Array, as_float, ema_seeded, windows


# --------------------------------------------------------------------------- weekly bars
@dataclass(frozen=True)
class WeeklyBars:
    """Calendar-week (Monday..Sunday) bars and the daily-row -> week mapping.

    ``week_of_row[i]`` is the 0-based index (into the bar arrays) of row ``i``'s week.
    """

    week_start: Array  # datetime64[D], the Monday of each week
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array
    week_of_row: Array  # int64


def to_days(dates: pd.Series | Array) -> Array:
    """Dates (datetime64, Timestamp or datetime.date) as ``datetime64[D]``."""
    return pd.to_datetime(pd.Series(dates)).to_numpy().astype("datetime64[D]")


def weekly_bars(
    dates: pd.Series | Array, open_: Array, high: Array, low: Array, close: Array, volume: Array
) -> WeeklyBars:
    """Aggregate daily rows (sorted by date) into calendar-week bars.

    open = first open, high = max, low = min, close = last close, volume = sum (NaN if
    any volume of the week is NaN). A partial first week is a bar like any other.
    """
    days = to_days(dates)
    # 1970-01-01 was a Thursday: (days_since_epoch + 3) % 7 is 0 on Mondays.
    day_num = days.astype(np.int64)
    monday = (day_num - (day_num + 3) % 7).astype("datetime64[D]")
    starts, week_of_row = np.unique(monday, return_inverse=True)
    frame = pd.DataFrame(
        {
            "w": week_of_row,
            "o": as_float(open_),
            "h": as_float(high),
            "l": as_float(low),
            "c": as_float(close),
            "v": as_float(volume),
        }
    )
    g = frame.groupby("w", sort=True)
    return WeeklyBars(
        week_start=starts,
        open=g["o"].first().to_numpy(dtype=np.float64),
        high=g["h"].max().to_numpy(dtype=np.float64),
        low=g["l"].min().to_numpy(dtype=np.float64),
        close=g["c"].last().to_numpy(dtype=np.float64),
        volume=g["v"].sum(skipna=False).to_numpy(dtype=np.float64),
        week_of_row=week_of_row.astype(np.int64),
    )


def last_completed_week(weekly_values: Array, week_of_row: Array) -> Array:
    """Daily value = the value of the previous week bar (the last completed week).

    Rows of the first week of history get NaN: no week ended before theirs began.
    """
    weekly_values = as_float(weekly_values)
    out = np.full(len(week_of_row), np.nan)
    has_prev = week_of_row >= 1
    out[has_prev] = weekly_values[week_of_row[has_prev] - 1]
    return out


# --------------------------------------------------------------------------- Klinger
def klinger_cm(high: Array, low: Array, close: Array) -> tuple[Array, Array, Array]:
    """Return ``(trend, dm, cm)`` of the Klinger oscillator (NaN / 0 trend on row 0).

    T_t = +1 if (h+l+c)_t > (h+l+c)_{t-1} else -1 (from the second row); dm = high - low;
    cm starts at dm on the second row, then cm_t = cm_{t-1} + dm_t if T_t == T_{t-1}
    else dm_{t-1} + dm_t.
    """
    high, low, close = as_float(high), as_float(low), as_float(close)
    n = len(close)
    hlc = high + low + close
    dm = high - low
    trend = np.full(n, np.nan)
    cm = np.full(n, np.nan)
    for t in range(1, n):
        trend[t] = 1.0 if hlc[t] > hlc[t - 1] else -1.0
        if t == 1:
            cm[t] = dm[t]
        elif trend[t] == trend[t - 1]:
            cm[t] = cm[t - 1] + dm[t]
        else:
            cm[t] = dm[t - 1] + dm[t]
    return trend, dm, cm


def klinger(high: Array, low: Array, close: Array, volume: Array) -> tuple[Array, Array, Array]:
    """Return ``(vf, kvo, kvo_signal)``.

    VF = volume * |2 dm / cm - 1| * T * 100 (0 when cm = 0; cm is a sum of non-negative
    ranges, so cm == 0 is exact); KVO = EMA34(VF) - EMA55(VF), each seeded from VF's own
    first values; signal = EMA13(KVO).
    """
    trend, dm, cm = klinger_cm(high, low, close)
    volume = as_float(volume)
    vf = np.full(len(cm), np.nan)
    defined = ~np.isnan(cm)
    zero = defined & (cm == 0.0)
    nz = defined & ~zero
    vf[nz] = volume[nz] * np.abs(2.0 * dm[nz] / cm[nz] - 1.0) * trend[nz] * 100.0
    vf[zero] = 0.0 * volume[zero]  # 0, but NaN when the volume itself is missing
    kvo = ema_seeded(vf, 34) - ema_seeded(vf, 55)
    return vf, kvo, ema_seeded(kvo, 13)


# --------------------------------------------------------------------------- SuperTrend
def supertrend(
    high: Array, low: Array, close: Array, atr: Array, multiplier: float = 3.0
) -> tuple[Array, Array]:
    """Return ``(supertrend_line, direction)`` (+1 bullish / -1 bearish) given an ATR series.

    Starts on the first row where ``atr`` is defined: final bands = basic bands
    (hl2 +- multiplier * atr), trend bearish. After it the final bands ratchet (reset
    when the basic band is tighter or the previous close crossed the previous final band);
    a bearish trend turns bullish when close > this row's final upper, a bullish trend
    turns bearish when close < this row's final lower, otherwise it is kept.
    """
    high, low, close, atr = as_float(high), as_float(low), as_float(close), as_float(atr)
    n = len(close)
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    defined = np.flatnonzero(~np.isnan(atr))
    if len(defined) == 0:
        return line, direction
    first = int(defined[0])
    hl2 = (high + low) / 2.0
    basic_upper = hl2 + multiplier * atr
    basic_lower = hl2 - multiplier * atr
    upper, lower, trend = basic_upper[first], basic_lower[first], -1.0
    line[first], direction[first] = upper, trend
    for t in range(first + 1, n):
        prev_close = close[t - 1]
        reset_upper = basic_upper[t] < upper or prev_close > upper
        reset_lower = basic_lower[t] > lower or prev_close < lower
        upper = basic_upper[t] if reset_upper else upper
        lower = basic_lower[t] if reset_lower else lower
        if trend < 0 and close[t] > upper:
            trend = 1.0
        elif trend > 0 and close[t] < lower:
            trend = -1.0
        direction[t] = trend
        line[t] = lower if trend > 0 else upper
    return line, direction


# --------------------------------------------------------------------------- misc
def days_since_sign_change(x: Array) -> Array:
    """Rows since the sign of ``x`` last changed (any change, to or from 0, counts).

    0 on the first defined row of ``x`` and on every row where the sign differs from the
    previous row's; NaN before ``x`` is defined (and on any NaN row, which restarts).
    """
    x = as_float(x)
    out = np.full(len(x), np.nan)
    prev_sign: float | None = None
    count = 0.0
    for t, value in enumerate(x):
        if np.isnan(value):
            prev_sign = None
            continue
        sign = float(np.sign(value))
        count = 0.0 if prev_sign is None or sign != prev_sign else count + 1.0
        out[t] = count
        prev_sign = sign
    return out


def rolling_expectancy(pct_returns: Array, n: int) -> Array:
    """p * mean(wins) - (1 - p) * mean(|losses|) over the last ``n`` % returns.

    Wins are > 0, losses < 0 (0 is neither); p = wins / n; an empty side counts 0.
    """
    w = windows(pct_returns, n)
    out = np.full(len(pct_returns), np.nan)
    for i, win in enumerate(w):
        if np.isnan(win).any():
            continue
        wins = win[win > 0]
        losses = win[win < 0]
        p = len(wins) / n
        mean_win = float(wins.mean()) if len(wins) else 0.0
        mean_loss = float(np.abs(losses).mean()) if len(losses) else 0.0
        out[i + n - 1] = p * mean_win - (1.0 - p) * mean_loss
    return out


def rolling_cvar(values: Array, var: Array, n: int) -> Array:
    """Mean of the ``n``-row window's values that are <= that row's ``var`` threshold."""
    w = windows(values, n)
    out = np.full(len(values), np.nan)
    for i, win in enumerate(w):
        threshold = var[i + n - 1]
        if np.isnan(win).any() or np.isnan(threshold):
            continue
        out[i + n - 1] = float(win[win <= threshold].mean())
    return out
