"""Column-by-column reference formulas of the a200 tier (the 101 columns a200 adds to a100).

Written from the spec (a200.md) with explicit loops wherever the spec states a rule row by
row (run lengths, signed runs, permutation entropy, the 52-week extremes, the calendar), so
that it shares no code and no trick with the product (SQL macros, vectorised numpy). TA-Lib is
called exactly where the spec names it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import Counter

import numpy as np
import talib

from ._stats import (
    Array,
    diff,
    place,
    ratio,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_std,
    rolling_sum,
    shift,
    windows,
)
from ._tiers import Inputs

#: a200 columns that are null when the ticker has no volume at all.
A200_VOLUME_COLUMNS: frozenset[str] = frozenset(
    {
        "vwma_10", "vwma_50", "days_above_vwma_20", "days_below_vwma_20", "volume_trend_5d",
        "consecutive_volume_increase", "volume_price_confluence", "high_volume_direction_bias",
        "price_obv_divergence", "divergence_streak", "divergence_magnitude",
    }
)  # fmt: skip

A200_EXTRA: list[str] = [
    "tema_9", "tema_20", "tema_50", "tema_100",
    "wma_10", "wma_20", "wma_50", "wma_200",
    "kama_10", "kama_20", "kama_50",
    "hma_9", "hma_21", "hma_50",
    "vwma_10", "vwma_50",
    "tema_20_slope", "price_pct_from_tema_50", "price_pct_from_kama_20",
    "days_above_sma_9", "days_below_sma_9", "days_above_sma_50", "days_below_sma_50",
    "days_above_sma_200", "days_below_sma_200", "days_above_tema_20", "days_below_tema_20",
    "days_above_kama_20", "days_below_kama_20", "days_above_vwma_20", "days_below_vwma_20",
    "days_since_sma_9_50_cross", "days_since_sma_50_200_cross", "days_since_tema_sma_50_cross",
    "days_since_kama_sma_50_cross", "days_since_sma_9_200_cross",
    "tema_20_sma_50_proximity", "kama_20_sma_50_proximity", "sma_9_200_proximity",
    "pct_from_upper_band", "pct_from_lower_band", "days_above_upper_band",
    "days_below_lower_band",
    "bb_squeeze_indicator", "bb_squeeze_duration",
    "rsi_distance_from_50", "days_rsi_overbought", "days_rsi_oversold", "rsi_percentile_60d",
    "zscore_from_20d_mean", "zscore_from_50d_mean",
    "percentile_in_52wk_range", "distance_from_52wk_high_pct", "days_since_52wk_high",
    "days_since_52wk_low",
    "consecutive_up_days", "consecutive_down_days", "range_compression_5d",
    "macd_signal", "macd_histogram_slope", "days_since_macd_cross_signal",
    "macd_signal_proximity",
    "volume_trend_5d", "consecutive_volume_increase", "volume_price_confluence",
    "high_volume_direction_bias",
    "trading_day_of_week", "is_monday", "is_friday", "days_to_month_end", "month_of_year",
    "is_quarter_end_month",
    "candle_body_pct", "body_to_range_ratio", "upper_wick_pct", "lower_wick_pct",
    "doji_indicator", "range_vs_avg_range",
    "tenkan_sen", "kijun_sen", "senkou_span_a", "senkou_span_b", "price_vs_cloud",
    "cloud_thickness_pct",
    "donchian_upper_20", "donchian_lower_20", "donchian_position", "donchian_width_pct",
    "pct_to_donchian_breakout",
    "price_rsi_divergence", "price_obv_divergence", "divergence_streak", "divergence_magnitude",
    "permutation_entropy_order3", "permutation_entropy_order4", "permutation_entropy_order5",
    "entropy_trend_5d",
    "trend_strength_pct_60d", "vol_regime_state", "regime_consistency", "regime_transition_prob",
]  # fmt: skip


# --------------------------------------------------------------------------- rules
def run(cond: Array) -> Array:
    """run(c): consecutive rows ending at t on which c holds (c: 1.0 / 0.0, NaN undefined)."""
    out = np.full(len(cond), np.nan)
    count = 0
    for t, c in enumerate(cond):
        if np.isnan(c):
            count = 0  # not defined yet: counting starts on the first defined row
            continue
        count = count + 1 if c == 1.0 else 0
        out[t] = count
    return out


def condition(holds: Array, *inputs: Array) -> Array:
    """A condition as 1.0 / 0.0, NaN on rows where any of its inputs is undefined."""
    out = np.where(holds, 1.0, 0.0)
    for x in inputs:
        out[np.isnan(x)] = np.nan
    return out


def signed_run(a: Array, b: Array) -> Array:
    """srun(a, b): +-k, sign + when a >= b, k rows since the sign last changed (1 on a change)."""
    out = np.full(len(a), np.nan)
    prev_sign = None
    k = 0
    for t in range(len(a)):
        if np.isnan(a[t]) or np.isnan(b[t]):
            prev_sign, k = None, 0
            continue
        sign = 1 if a[t] >= b[t] else -1
        k = k + 1 if sign == prev_sign else 1
        prev_sign = sign
        out[t] = sign * k
    return out


def count_le(x: Array, n: int) -> Array:
    """count_n(x): how many of the last n values (today included) are <= today's."""
    w = windows(x, n)
    counts = (w <= w[:, -1:]).sum(axis=1).astype(float)
    counts[np.isnan(w).any(axis=1)] = np.nan
    return place(counts, n, len(x))


def z20(x: Array) -> Array:
    """(x - mean20) / std20 (sample); 0 when the 20 values are all equal."""
    return ratio(x - rolling_mean(x, 20), rolling_std(x, 20), 0.0)


def earliest_extreme_age(x: Array, n: int, pick: str) -> Array:
    """t minus the earliest row of the max (pick='max') or min of the last n values."""
    out = np.full(len(x), np.nan)
    for t in range(n - 1, len(x)):
        window = list(x[t - n + 1 : t + 1])
        target = max(window) if pick == "max" else min(window)
        out[t] = (n - 1) - window.index(target)  # list.index: the first (earliest) match
    return out


def ordinal_pattern(u: list[float]) -> tuple[int, ...]:
    """rank_j = #{k: u_k < u_j, or u_k == u_j and k < j} (ties ranked by position)."""
    m = len(u)
    return tuple(
        sum(1 for k in range(m) if u[k] < u[j] or (u[k] == u[j] and k < j)) for j in range(m)
    )


def permutation_entropy(close: Array, m: int, window: int = 20) -> Array:
    """Bandt-Pompe PE_m of the last `window` closes, normalised by ln(m!)."""
    out = np.full(len(close), np.nan)
    n_tuples = window - m + 1
    x = [float(v) for v in close]
    # The pattern of the tuple starting at each row (a tuple belongs to several windows).
    patterns = [ordinal_pattern(x[i : i + m]) for i in range(len(x) - m + 1)]
    for t in range(window - 1, len(close)):
        first = t - window + 1
        counts = Counter(patterns[first : first + n_tuples])
        h = -sum((c / n_tuples) * math.log(c / n_tuples) for c in counts.values())
        out[t] = h / math.log(math.factorial(m))
    return out


def weekdays_to_month_end(day: dt.date) -> int:
    """Weekdays d with day < d <= the last calendar day of day's month."""
    last = calendar.monthrange(day.year, day.month)[1]
    return sum(
        1 for d in range(day.day + 1, last + 1) if dt.date(day.year, day.month, d).weekday() < 5
    )


def high_volume_bias(pct_r: Array, volume: Array) -> Array:
    """Mean of R_s over s in t-19..t with volume_s > 1.5 * mean20(volume)_s; 0 when none."""
    vol_mean = rolling_mean(volume, 20)
    out = np.full(len(pct_r), np.nan)
    for t in range(len(pct_r)):
        rows = range(t - 19, t + 1)
        if rows.start < 0 or any(np.isnan(vol_mean[s]) or np.isnan(pct_r[s]) for s in rows):
            continue
        picked = [pct_r[s] for s in rows if volume[s] > 1.5 * vol_mean[s]]
        out[t] = sum(picked) / len(picked) if picked else 0.0
    return out


def rows_since_state_change(state: Array) -> Array:
    """1 on the first defined row and on every change of `state`, else previous + 1."""
    out = np.full(len(state), np.nan)
    k = 0
    for t, s in enumerate(state):
        if np.isnan(s):
            k = 0
            continue
        k = 1 if k == 0 or s != state[t - 1] else k + 1
        out[t] = k
    return out


def transition_share(state: Array, n: int = 20) -> Array:
    """Share of the n rows s = t-n+1..t with state_s != state_{s-1} (all n + 1 defined)."""
    out = np.full(len(state), np.nan)
    for t in range(n, len(state)):
        seg = state[t - n : t + 1]
        if np.isnan(seg).any():
            continue
        out[t] = sum(1 for i in range(1, n + 1) if seg[i] != seg[i - 1]) / n
    return out


def hull(close: Array, n: int) -> Array:
    """HMA: WMA(2 WMA(close, n // 2) - WMA(close, n), isqrt(n)) over raw's defined rows."""
    raw = 2.0 * talib.WMA(close, n // 2) - talib.WMA(close, n)
    out = np.full(len(close), np.nan)
    s = math.isqrt(n)
    start = n - 1
    if len(close) - start >= s:
        out[start:] = talib.WMA(raw[start:], s)
    return out


def vwma(close: Array, volume: Array, n: int) -> Array:
    """sum_n(close * volume) / sum_n(volume); close when sum_n(volume) = 0."""
    return ratio(rolling_sum(close * volume, n), rolling_sum(volume, n), close)


def pct(x: Array, base: Array) -> Array:
    """100 * (x - base) / base."""
    return 100.0 * (x - base) / base


# --------------------------------------------------------------------------- the tier
def build_a200(d: Inputs, out: dict[str, Array]) -> None:
    """The 101 columns a200 adds (reads a20/a50/a100 columns from ``out``)."""
    o, h, lo, c, v = d.open, d.high, d.low, d.close, d.volume
    pct_r = 100.0 * d.r
    for n in (9, 20, 50, 100):
        out[f"tema_{n}"] = talib.TEMA(c, n)
    for n in (10, 20, 50, 200):
        out[f"wma_{n}"] = talib.WMA(c, n)
    for n in (10, 20, 50):
        out[f"kama_{n}"] = talib.KAMA(c, n)
    for n in (9, 21, 50):
        out[f"hma_{n}"] = hull(c, n)
    vwma_20 = vwma(c, v, 20)
    out["vwma_10"], out["vwma_50"] = vwma(c, v, 10), vwma(c, v, 50)
    tema20, tema50, kama20 = out["tema_20"], out["tema_50"], out["kama_20"]
    out["tema_20_slope"] = diff(tema20, 5)
    out["price_pct_from_tema_50"] = ratio(100.0 * (c - tema50), tema50, 0.0)
    out["price_pct_from_kama_20"] = pct(c, kama20)
    sma9, sma50, sma200 = talib.SMA(c, 9), out["sma_50"], out["sma_200"]
    for name, level in (("sma_9", sma9), ("sma_50", sma50), ("sma_200", sma200),
                        ("tema_20", tema20), ("kama_20", kama20), ("vwma_20", vwma_20)):
        out[f"days_above_{name}"] = run(condition(c >= level, level))
        out[f"days_below_{name}"] = run(condition(c < level, level))
    out["days_since_sma_9_50_cross"] = signed_run(sma9, sma50)
    out["days_since_sma_50_200_cross"] = signed_run(sma50, sma200)
    out["days_since_tema_sma_50_cross"] = signed_run(tema20, sma50)
    out["days_since_kama_sma_50_cross"] = signed_run(kama20, sma50)
    out["days_since_sma_9_200_cross"] = signed_run(sma9, sma200)
    out["tema_20_sma_50_proximity"] = pct(tema20, sma50)
    out["kama_20_sma_50_proximity"] = pct(kama20, sma50)
    out["sma_9_200_proximity"] = pct(sma9, sma200)
    upper, _, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    out["pct_from_upper_band"] = pct(c, upper)
    out["pct_from_lower_band"] = ratio(100.0 * (c - lower), lower, 0.0)
    out["days_above_upper_band"] = run(condition(c > upper, upper))
    out["days_below_lower_band"] = run(condition(c < lower, lower))
    ema20, atr20 = talib.EMA(c, 20), talib.ATR(h, lo, c, 20)
    kc_upper, kc_lower = ema20 + 1.5 * atr20, ema20 - 1.5 * atr20
    squeeze = condition((upper < kc_upper) & (lower > kc_lower), upper, kc_upper)
    out["bb_squeeze_indicator"] = squeeze
    out["bb_squeeze_duration"] = run(squeeze)
    rsi = out["rsi_daily"]
    out["rsi_distance_from_50"] = rsi - 50.0
    out["days_rsi_overbought"] = run(condition(rsi > 70.0, rsi))
    out["days_rsi_oversold"] = run(condition(rsi < 30.0, rsi))
    # RSI compared at 1e-9 (the tier's rule): a flat close's exact RSI tie survives rounding.
    out["rsi_percentile_60d"] = count_le(np.round(rsi, 9), 60) / 60.0
    for n in (20, 50):
        out[f"zscore_from_{n}d_mean"] = ratio(c - rolling_mean(c, n), rolling_std(c, n), 0.0)
    hi252, lo252 = rolling_max(c, 252), rolling_min(c, 252)
    out["percentile_in_52wk_range"] = ratio(c - lo252, hi252 - lo252, 0.5)
    out["distance_from_52wk_high_pct"] = pct(c, hi252)
    out["days_since_52wk_high"] = earliest_extreme_age(c, 252, "max")
    out["days_since_52wk_low"] = earliest_extreme_age(c, 252, "min")
    prev = shift(c, 1)
    out["consecutive_up_days"] = run(condition(c > prev, prev))
    out["consecutive_down_days"] = run(condition(c < prev, prev))
    avg_range5 = rolling_mean(h - lo, 5)
    out["range_compression_5d"] = ratio(avg_range5, shift(avg_range5, 15), 1.0)
    line, signal, _ = talib.MACD(c, 12, 26, 9)
    out["macd_signal"] = signal
    out["macd_histogram_slope"] = diff(out["macd_histogram"], 5)
    out["days_since_macd_cross_signal"] = signed_run(line, signal)
    out["macd_signal_proximity"] = 100.0 * (line - signal) / np.maximum(np.abs(signal), 1e-6 * c)
    vz = z20(v)
    out["volume_trend_5d"] = diff(vz, 5)
    out["consecutive_volume_increase"] = run(condition(v > shift(v, 1), shift(v, 1), v))
    out["volume_price_confluence"] = vz * z20(pct_r)
    out["high_volume_direction_bias"] = high_volume_bias(pct_r, v)
    days = [dt.date.fromisoformat(str(x)[:10]) for x in d.dates]
    out["trading_day_of_week"] = np.array([x.weekday() for x in days], dtype=float)
    out["is_monday"] = np.array([x.weekday() == 0 for x in days], dtype=float)
    out["is_friday"] = np.array([x.weekday() == 4 for x in days], dtype=float)
    out["days_to_month_end"] = np.array([weekdays_to_month_end(x) for x in days], dtype=float)
    out["month_of_year"] = np.array([x.month for x in days], dtype=float)
    out["is_quarter_end_month"] = np.array([x.month in (3, 6, 9, 12) for x in days], dtype=float)
    body, rng = np.abs(c - o), h - lo
    out["candle_body_pct"] = 100.0 * body / o
    out["body_to_range_ratio"] = np.clip(ratio(body, rng, 0.5), 0.0, 1.0)
    out["upper_wick_pct"] = np.clip(ratio(h - np.maximum(o, c), rng, 0.0), 0.0, 1.0)
    out["lower_wick_pct"] = np.clip(ratio(np.minimum(o, c) - lo, rng, 0.0), 0.0, 1.0)
    out["doji_indicator"] = np.where(out["body_to_range_ratio"] < 0.1, 1.0, 0.0)
    out["range_vs_avg_range"] = ratio(rng, rolling_mean(rng, 20), 0.0)
    tenkan = (rolling_max(h, 9) + rolling_min(lo, 9)) / 2.0
    kijun = (rolling_max(h, 26) + rolling_min(lo, 26)) / 2.0
    span_a = (tenkan + kijun) / 2.0
    span_b = (rolling_max(h, 52) + rolling_min(lo, 52)) / 2.0
    out["tenkan_sen"], out["kijun_sen"] = tenkan, kijun
    out["senkou_span_a"], out["senkou_span_b"] = span_a, span_b
    cloud_top, cloud_bottom = np.maximum(span_a, span_b), np.minimum(span_a, span_b)
    out["price_vs_cloud"] = condition(c > cloud_top, span_a, span_b) - condition(
        c < cloud_bottom, span_a, span_b
    )
    out["cloud_thickness_pct"] = 100.0 * (span_a - span_b) / c
    dc_up, dc_lo = rolling_max(h, 20), rolling_min(lo, 20)
    out["donchian_upper_20"], out["donchian_lower_20"] = dc_up, dc_lo
    out["donchian_position"] = np.clip(ratio(c - dc_lo, dc_up - dc_lo, 0.5), 0.0, 1.0)
    out["donchian_width_pct"] = 100.0 * (dc_up - dc_lo) / c
    breakout = np.where(
        c >= (dc_up + dc_lo) / 2.0, 100.0 * (dc_up - c) / c, -100.0 * (c - dc_lo) / c
    )
    breakout[np.isnan(dc_up)] = np.nan
    out["pct_to_donchian_breakout"] = breakout
    k_close, k_rsi, k_obv = count_le(c, 20), count_le(np.round(rsi, 9), 20), count_le(out["obv"], 20)
    out["price_rsi_divergence"] = (k_close - k_rsi) / 20.0
    out["price_obv_divergence"] = (k_close - k_obv) / 20.0
    gap = np.maximum(np.abs(k_close - k_rsi), np.abs(k_close - k_obv))
    gap[np.isnan(k_rsi) | np.isnan(k_obv)] = np.nan  # np.maximum propagates NaN anyway
    out["divergence_streak"] = run(condition(gap > 4, gap))
    out["divergence_magnitude"] = gap / 20.0
    for m in (3, 4, 5):
        out[f"permutation_entropy_order{m}"] = permutation_entropy(c, m)
    out["entropy_trend_5d"] = diff(out["permutation_entropy_order4"], 5)
    out["trend_strength_pct_60d"] = count_le(out["adx_14"], 60) / 60.0
    k_atr = count_le(out["atr_pct"], 60)
    state = np.where(k_atr >= 43, 1.0, np.where(k_atr <= 17, -1.0, 0.0))
    state[np.isnan(k_atr)] = np.nan
    out["vol_regime_state"] = state
    out["regime_consistency"] = rows_since_state_change(state)
    out["regime_transition_prob"] = transition_share(state, 20)
