"""Column-by-column reference formulas of the a20, a50 and a100 tiers.

Each builder writes its tier's new columns into a shared ``dict`` (name -> float64
array); later tiers read earlier columns from it. TA-Lib is called on the ticker's
whole history (default compatibility mode) exactly where the spec names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import talib

from ._indicators import (
    days_since_sign_change,
    klinger,
    last_completed_week,
    rolling_cvar,
    rolling_expectancy,
    supertrend,
    weekly_bars,
)
from ._stats import (
    Array,
    diff,
    ema_seeded,
    pct_change,
    ratio,
    rolling_is_constant,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_quantile,
    rolling_share_le_current,
    rolling_std,
    rolling_sum,
    shift,
    stochastic,
)

SQRT252 = math.sqrt(252.0)

#: Columns that are null when the ticker has no volume at all.
VOLUME_COLUMNS: frozenset[str] = frozenset(
    {
        "obv",
        "adosc",
        "vwap_20",
        "volume_ratio_20d",
        "kvo_signal",
        "mfi_14",
        "obv_slope",
        "volume_price_trend",
        "kvo_histogram",
        "accumulation_dist",
    }
)


#: TA-Lib functions with an "unstable period" that this module calls (directly or inside).
_UNSTABLE_FUNCS = ("ADX", "ATR", "EMA", "MINUS_DI", "PLUS_DI", "RSI")


def check_talib_defaults() -> None:
    """Refuse to run when TA-Lib's global state is not its default (another caller changed
    the compatibility mode or an unstable period): the spec is TA-Lib's *default* output."""
    if talib.get_compatibility() != 0:
        raise RuntimeError("TA-Lib compatibility mode is not the default (0)")
    changed = [f for f in _UNSTABLE_FUNCS if talib.get_unstable_period(f) != 0]
    if changed:
        raise RuntimeError(f"TA-Lib unstable period changed for {changed}")


@dataclass
class Inputs:
    """One ticker's raw arrays plus intermediates shared between tiers."""

    dates: pd.Series
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array
    vix_close: Array
    has_volume: bool
    cache: dict[str, Array] = field(default_factory=dict)

    @property
    def r(self) -> Array:
        """Daily simple return close_t / close_{t-1} - 1 (not percent)."""
        return self.close / shift(self.close, 1) - 1.0

    @property
    def log_r(self) -> Array:
        """Daily log return ln(close_t / close_{t-1})."""
        return np.log(self.close / shift(self.close, 1))

    def bbands(self) -> tuple[Array, Array, Array]:
        """TA-Lib BBANDS(close, 20, 2, 2, SMA) as (upper, middle, lower), cached."""
        if "bb_upper" not in self.cache:
            up, mid, lo = talib.BBANDS(self.close, 20, 2.0, 2.0, 0)
            self.cache.update(bb_upper=up, bb_middle=mid, bb_lower=lo)
        return self.cache["bb_upper"], self.cache["bb_middle"], self.cache["bb_lower"]

    def bb_flat(self) -> Array:
        """True where BBANDS' band width is 0: the 20 closes are all equal (or TA-Lib says so)."""
        up, _, lo = self.bbands()
        return rolling_is_constant(self.close, 20) | ((up - lo) == 0.0)

    def klinger(self) -> tuple[Array, Array]:
        """(KVO, kvo_signal), cached; all-NaN without volume."""
        if "kvo" not in self.cache:
            _, kvo, signal = klinger(self.high, self.low, self.close, self.volume)
            self.cache.update(kvo=kvo, kvo_signal=signal)
        return self.cache["kvo"], self.cache["kvo_signal"]

    def realized_vol(self, n: int) -> Array:
        """RV_n = 100 * sqrt(252) * std_n(ln(close_t / close_{t-1}))."""
        return 100.0 * SQRT252 * rolling_std(self.log_r, n)


def _sharpe(r: Array, n: int) -> Array:
    return ratio(SQRT252 * rolling_mean(r, n), rolling_std(r, n), 0.0)


def _sortino(r: Array, n: int) -> Array:
    return ratio(SQRT252 * rolling_mean(r, n), rolling_std(np.minimum(r, 0.0), n), 0.0)


def _dist_to_pair(x: Array, a: float, b: float) -> Array:
    return np.minimum(np.abs(x - a), np.abs(x - b))


def build_a20(d: Inputs, out: dict[str, Array]) -> None:
    """The 20 a20 columns."""
    c, h, lo, v = d.close, d.high, d.low, d.volume
    for n in (9, 10, 20, 25, 90):
        out[f"dema_{n}"] = talib.DEMA(c, n)
    for n in (12, 50, 100, 200):
        out[f"sma_{n}"] = talib.SMA(c, n)
    out["rsi_daily"] = talib.RSI(c, 14)
    out["stochrsi_daily"] = talib.STOCHRSI(c, 14, 5, 3, 0)[0]
    weeks = weekly_bars(d.dates, d.open, h, lo, c, v)
    out["rsi_weekly"] = last_completed_week(talib.RSI(weeks.close, 14), weeks.week_of_row)
    out["stochrsi_weekly"] = last_completed_week(
        talib.STOCHRSI(weeks.close, 14, 5, 3, 0)[0], weeks.week_of_row
    )
    out["macd_line"] = talib.MACD(c, 12, 26, 9)[0]
    out["obv"] = talib.OBV(c, v) if d.has_volume else np.full(len(c), np.nan)
    out["adosc"] = talib.ADOSC(h, lo, c, v, 3, 10) if d.has_volume else np.full(len(c), np.nan)
    out["atr_14"] = talib.ATR(h, lo, c, 14)
    out["adx_14"] = talib.ADX(h, lo, c, 14)
    up, _, low_band = d.bbands()
    width = np.where(d.bb_flat(), 0.0, up - low_band)
    out["bb_percent_b"] = ratio(c - low_band, width, 0.5)
    out["vwap_20"] = ratio(rolling_sum(c * v, 20), rolling_sum(v, 20), c)


def build_a50(d: Inputs, out: dict[str, Array]) -> None:
    """The 30 columns a50 adds (reads rsi_daily, sma_*, atr_14 from ``out``)."""
    c, o, v = d.close, d.open, d.volume
    r = d.r
    for k in (1, 5, 21, 63, 252):
        out[f"return_{k}d"] = pct_change(c, k)
    prev_close = shift(c, 1)
    out["overnight_gap"] = 100.0 * (o - prev_close) / prev_close
    out["open_to_close_pct"] = 100.0 * (c - o) / o
    rsi = out["rsi_daily"]
    out["qqe_fast"] = ema_seeded(rsi, 5)
    out["qqe_slow"] = ema_seeded(rsi, 14)
    out["qqe_fast_slow_spread"] = out["qqe_fast"] - out["qqe_slow"]
    m = talib.MACD(c, 23, 50, 10)[0]
    d1 = ema_seeded(stochastic(m, 10, 50.0), 3)
    out["stc"] = np.clip(ema_seeded(stochastic(d1, 10, 50.0), 3), 0.0, 100.0)
    out["stc_from_50"] = out["stc"] - 50.0
    out["vrp_10d"] = d.vix_close - d.realized_vol(10)
    rv21 = d.realized_vol(21)
    out["vrp_21d"] = d.vix_close - rv21
    out["implied_vs_realized_ratio"] = ratio(d.vix_close, rv21, 1.0)
    for n in (20, 60):
        out[f"sharpe_{n}d"] = _sharpe(r, n)
    for n in (20, 60):
        out[f"sortino_{n}d"] = _sortino(r, n)
    out["rsi_slope"] = diff(rsi, 5)
    out["rsi_extreme_dist"] = _dist_to_pair(rsi, 30.0, 70.0)
    for n in (50, 200):
        sma = out[f"sma_{n}"]
        out[f"price_pct_from_sma_{n}"] = 100.0 * (c - sma) / sma
    out["sma_50_200_proximity"] = 100.0 * (out["sma_50"] - out["sma_200"]) / out["sma_200"]
    out["atr_pct"] = 100.0 * out["atr_14"] / c
    out["atr_pct_slope"] = diff(out["atr_pct"], 5)
    up, mid, low_band = d.bbands()
    out["bb_width"] = np.where(d.bb_flat(), 0.0, 100.0 * (up - low_band) / mid)
    out["volume_ratio_20d"] = ratio(v, rolling_mean(v, 20), 1.0)
    out["kvo_signal"] = d.klinger()[1]
    out["macd_histogram"] = talib.MACD(c, 12, 26, 9)[2]


def build_a100(d: Inputs, out: dict[str, Array]) -> None:
    """The 50 columns a100 adds (reads a20/a50 columns from ``out``)."""
    o, h, lo, c, v = d.open, d.high, d.low, d.close, d.volume
    r = d.r
    pct_r = 100.0 * r
    out["return_1d_acceleration"] = diff(out["return_1d"], 1)
    out["return_5d_acceleration"] = diff(out["return_5d"], 1)
    out["qqe_slope"] = diff(out["qqe_fast"], 5)
    out["qqe_extreme_dist"] = _dist_to_pair(out["qqe_fast"], 20.0, 80.0)
    out["stc_slope"] = diff(out["stc"], 5)
    out["stc_extreme_dist"] = _dist_to_pair(out["stc"], 25.0, 75.0)
    demax = np.maximum(diff(h, 1), 0.0)
    demin = np.maximum(shift(lo, 1) - lo, 0.0)
    up_mean, down_mean = rolling_mean(demax, 14), rolling_mean(demin, 14)
    out["demarker_14"] = ratio(up_mean, up_mean + down_mean, 0.5)
    out["demarker_from_half"] = out["demarker_14"] - 0.5
    out["stoch_k_14"], out["stoch_d_14"] = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    out["stoch_extreme_dist"] = _dist_to_pair(out["stoch_k_14"], 20.0, 80.0)
    out["cci_14"] = talib.CCI(h, lo, c, 14)
    out["mfi_14"] = talib.MFI(h, lo, c, v, 14) if d.has_volume else np.full(len(c), np.nan)
    out["williams_r_14"] = talib.WILLR(h, lo, c, 14)
    out["vrp_5d"] = d.vix_close - d.realized_vol(5)
    out["vrp_slope"] = diff(out["vrp_5d"], 1)
    out["sharpe_252d"] = _sharpe(r, 252)
    out["sortino_252d"] = _sortino(r, 252)
    out["sharpe_slope_20d"] = diff(out["sharpe_20d"], 1)
    out["sortino_slope_20d"] = diff(out["sortino_20d"], 1)
    out["var_95"] = rolling_quantile(pct_r, 20, 0.05)
    out["var_99"] = rolling_quantile(pct_r, 20, 0.01)
    out["cvar_95"] = rolling_cvar(pct_r, out["var_95"], 20)
    sma9 = talib.SMA(c, 9)
    out["sma_9_50_proximity"] = 100.0 * (sma9 - out["sma_50"]) / out["sma_50"]
    out["sma_50_slope"] = diff(out["sma_50"], 5)
    out["sma_200_slope"] = diff(out["sma_200"], 5)
    out["ema_12"] = talib.EMA(c, 12)
    out["ema_26"] = talib.EMA(c, 26)
    out["days_since_sma_50_cross"] = days_since_sign_change(c - out["sma_50"])
    out["days_since_sma_200_cross"] = days_since_sign_change(c - out["sma_200"])
    out["atr_pct_percentile_60d"] = rolling_share_le_current(out["atr_pct"], 60)
    out["bb_width_percentile_60d"] = rolling_share_le_current(out["bb_width"], 60)
    hl2 = np.log(h / lo) ** 2
    park = rolling_mean(hl2 / (4.0 * math.log(2.0)), 20)
    out["parkinson_volatility"] = 100.0 * np.sqrt(252.0 * park)
    gk_terms = 0.5 * hl2 - (2.0 * math.log(2.0) - 1.0) * np.log(c / o) ** 2
    gk = np.maximum(0.0, rolling_mean(gk_terms, 20))
    out["garman_klass_volatility"] = 100.0 * np.sqrt(252.0 * gk)
    out["vol_of_vol"] = rolling_std(SQRT252 * rolling_std(r, 5), 20)
    out["adx_slope"] = diff(out["adx_14"], 5)
    out["di_spread"] = talib.PLUS_DI(h, lo, c, 14) - talib.MINUS_DI(h, lo, c, 14)
    out["aroon_oscillator"] = talib.AROONOSC(h, lo, 25)
    st_line, st_dir = supertrend(h, lo, c, talib.ATR(h, lo, c, 10), 3.0)
    out["price_pct_from_supertrend"] = 100.0 * (c - st_line) / st_line
    out["supertrend_direction"] = st_dir
    obv_d = diff(out["obv"], 5)
    out["obv_slope"] = ratio(obv_d, rolling_std(obv_d, 20), 0.0)
    vpt = np.full(len(c), np.nan)
    if len(c) > 1:
        vpt[1:] = np.cumsum(v[1:] * (c[1:] / c[:-1] - 1.0))
    out["volume_price_trend"] = ratio(vpt, np.abs(rolling_mean(vpt, 20)), 0.0)
    kvo, signal = d.klinger()
    hist = kvo - signal
    out["kvo_histogram"] = ratio(hist, rolling_std(hist, 20), 0.0)
    ad = talib.AD(h, lo, c, v) if d.has_volume else np.full(len(c), np.nan)
    out["accumulation_dist"] = ratio(ad, np.abs(rolling_mean(ad, 20)), 0.0)
    out["win_rate_20d"] = 100.0 * rolling_sum(np.where(np.isnan(r), np.nan, r > 0.0), 20) / 20.0
    out["expectancy_20d"] = rolling_expectancy(pct_r, 20)
    out["buying_pressure_ratio"] = ratio(c - lo, h - lo, 0.5)
    lo44 = rolling_min(lo, 44)
    out["fib_range_position"] = ratio(c - lo44, rolling_max(h, 44) - lo44, 0.5)
    prior_high = shift(rolling_max(h, 20), 1)
    prior_low = shift(rolling_min(lo, 20), 1)
    out["prior_high_20d_dist"] = 100.0 * (c - prior_high) / prior_high
    out["prior_low_20d_dist"] = 100.0 * (c - prior_low) / prior_low
