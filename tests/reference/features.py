"""Independent reference implementation of the fts feature tiers (vix, a20, a50, a100, a200).

Written from the research spec only (pandas / numpy / TA-Lib), to be compared against the
product's DuckDB + Python implementation. Public API:

* :func:`reference_vix` -- the 8 vix columns as-of joined onto a ticker's dates;
* :func:`reference_features` -- ``date`` then a tier's columns, one row per input row;
* :data:`TIER_COLUMNS` -- the ordered column list of every tier;
* :func:`first_complete_row` -- first row where all listed columns are non-null;
* :data:`WARMUPS` -- first non-null row of every column on a synthetic 600-row history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._a200 import A200_EXTRA, A200_VOLUME_COLUMNS, build_a200
from ._stats import as_float
from ._tiers import VOLUME_COLUMNS as _VOLUME_COLUMNS_A100
from ._tiers import (
    Inputs,
    build_a20,
    build_a50,
    build_a100,
    check_talib_defaults,
)
from .vix import VIX_COLUMNS, reference_vix

__all__ = [
    "A200_EXTRA",
    "TIER_COLUMNS",
    "VOLUME_COLUMNS",
    "WARMUPS",
    "a200_warmups",
    "first_complete_row",
    "reference_features",
    "reference_vix",
    "synthetic_history",
]

_A20: list[str] = [
    "dema_9", "dema_10", "dema_20", "dema_25", "dema_90",
    "sma_12", "sma_50", "sma_100", "sma_200",
    "rsi_daily", "stochrsi_daily", "rsi_weekly", "stochrsi_weekly",
    "macd_line", "obv", "adosc", "atr_14", "adx_14", "bb_percent_b", "vwap_20",
]  # fmt: skip

_A50_EXTRA: list[str] = [
    "return_1d", "return_5d", "return_21d", "return_63d", "return_252d",
    "overnight_gap", "open_to_close_pct",
    "qqe_fast", "qqe_slow", "qqe_fast_slow_spread",
    "stc", "stc_from_50",
    "vrp_10d", "vrp_21d", "implied_vs_realized_ratio",
    "sharpe_20d", "sharpe_60d", "sortino_20d", "sortino_60d",
    "rsi_slope", "rsi_extreme_dist",
    "price_pct_from_sma_50", "price_pct_from_sma_200", "sma_50_200_proximity",
    "atr_pct", "atr_pct_slope", "bb_width", "volume_ratio_20d",
    "kvo_signal", "macd_histogram",
]  # fmt: skip

_A100_EXTRA: list[str] = [
    "return_1d_acceleration", "return_5d_acceleration",
    "qqe_slope", "qqe_extreme_dist", "stc_slope", "stc_extreme_dist",
    "demarker_14", "demarker_from_half",
    "stoch_k_14", "stoch_d_14", "stoch_extreme_dist",
    "cci_14", "mfi_14", "williams_r_14",
    "vrp_5d", "vrp_slope",
    "sharpe_252d", "sortino_252d", "sharpe_slope_20d", "sortino_slope_20d",
    "var_95", "var_99", "cvar_95",
    "sma_9_50_proximity", "sma_50_slope", "sma_200_slope",
    "ema_12", "ema_26",
    "days_since_sma_50_cross", "days_since_sma_200_cross",
    "atr_pct_percentile_60d", "bb_width_percentile_60d",
    "parkinson_volatility", "garman_klass_volatility", "vol_of_vol",
    "adx_slope", "di_spread", "aroon_oscillator",
    "price_pct_from_supertrend", "supertrend_direction",
    "obv_slope", "volume_price_trend", "kvo_histogram", "accumulation_dist",
    "win_rate_20d", "expectancy_20d", "buying_pressure_ratio", "fib_range_position",
    "prior_high_20d_dist", "prior_low_20d_dist",
]  # fmt: skip

TIER_COLUMNS: dict[str, list[str]] = {
    "vix": list(VIX_COLUMNS),
    "a20": list(_A20),
    "a50": _A20 + _A50_EXTRA,
    "a100": _A20 + _A50_EXTRA + _A100_EXTRA,
    "a200": _A20 + _A50_EXTRA + _A100_EXTRA + A200_EXTRA,
}

#: Columns (of every tier) that are null when the ticker has no volume at all.
VOLUME_COLUMNS: frozenset[str] = _VOLUME_COLUMNS_A100 | A200_VOLUME_COLUMNS

_OHLCV = ("date", "open", "high", "low", "close", "volume")


def _inputs(ohlcv: pd.DataFrame, vix: pd.DataFrame | None) -> Inputs:
    missing = [c for c in _OHLCV if c not in ohlcv.columns]
    if missing:
        raise KeyError(f"ohlcv lacks columns {missing}")
    dates = ohlcv["date"].reset_index(drop=True)
    if not pd.to_datetime(dates).is_monotonic_increasing:
        raise ValueError("ohlcv must be sorted by date")
    volume = as_float(ohlcv["volume"].to_numpy(dtype=np.float64, na_value=np.nan))
    if vix is None:
        vix_close = np.full(len(dates), np.nan)
    else:
        vix_close = reference_vix(vix, dates)["vix_close"].to_numpy(dtype=np.float64)

    def col(name: str) -> np.ndarray:
        return np.ascontiguousarray(ohlcv[name].to_numpy(dtype=np.float64, na_value=np.nan))

    return Inputs(
        dates=dates,
        open=col("open"),
        high=col("high"),
        low=col("low"),
        close=col("close"),
        volume=np.ascontiguousarray(volume),
        vix_close=vix_close,
        has_volume=bool((~np.isnan(volume)).any()),
    )


def reference_features(ohlcv: pd.DataFrame, vix: pd.DataFrame | None, tier: str) -> pd.DataFrame:
    """Compute one tier for ONE ticker over its whole history.

    ``ohlcv``: the ticker's rows sorted by date, columns date, open, high, low, close,
    volume (float; volume may be all-NaN). ``vix``: ^VIX rows (date, close) or None (then
    every VIX-derived value is NaN). Returns ``date`` followed by ``TIER_COLUMNS[tier]``,
    float64, one row per input row (index 0..n-1), NaN where undefined.
    """
    if tier not in TIER_COLUMNS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {list(TIER_COLUMNS)}")
    dates = ohlcv["date"].reset_index(drop=True)
    index = pd.RangeIndex(len(dates))
    if tier == "vix":
        if vix is None:
            body = pd.DataFrame(np.nan, index=index, columns=VIX_COLUMNS)
        else:
            body = reference_vix(vix, dates)
        return pd.concat([pd.DataFrame({"date": dates}, index=index), body], axis=1)
    check_talib_defaults()
    data = _inputs(ohlcv, vix)
    out: dict[str, np.ndarray] = {}
    build_a20(data, out)
    if tier in ("a50", "a100", "a200"):
        build_a50(data, out)
    if tier in ("a100", "a200"):
        build_a100(data, out)
    if tier == "a200":
        build_a200(data, out)
    if not data.has_volume:
        for name in VOLUME_COLUMNS & out.keys():
            out[name] = np.full(len(dates), np.nan)
    frame = pd.DataFrame({name: as_float(out[name]) for name in TIER_COLUMNS[tier]}, index=index)
    frame.insert(0, "date", dates.to_numpy())
    return frame


def first_complete_row(frame: pd.DataFrame, columns: list[str]) -> int:
    """Positional index of the first row where every listed column is non-null.

    Returns ``len(frame)`` when no row is complete (so ``frame.iloc[k:]`` is empty).
    """
    complete = frame[list(columns)].notna().all(axis=1).to_numpy()
    hits = np.flatnonzero(complete)
    return int(hits[0]) if len(hits) else len(frame)


def synthetic_history(n: int = 600, seed: int = 20240601) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random-walk OHLCV history on business days from Monday 2020-01-06, and a VIX
    series (date, close) with a value on every one of those dates."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-06", periods=n)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.012, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0.0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.006, n)))
    volume = rng.integers(100_000, 1_000_000, n).astype(np.float64)
    ohlcv = pd.DataFrame(
        {"date": dates, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )
    vix_close = 18.0 * np.exp(np.cumsum(rng.normal(0.0, 0.06, n)))
    return ohlcv, pd.DataFrame({"date": dates, "close": vix_close})


def _warmups() -> dict[str, int]:
    """First non-null row of every vix and a100 column on :func:`synthetic_history`."""
    ohlcv, vix = synthetic_history()
    frames = [reference_features(ohlcv, vix, "vix"), reference_features(ohlcv, vix, "a100")]
    result: dict[str, int] = {}
    for frame, tier in zip(frames, ("vix", "a100"), strict=True):
        for name in TIER_COLUMNS[tier]:
            result[name] = first_complete_row(frame, [name])
    return result


#: Warm-up (first non-null row) of every column on the synthetic 600-row history, whose
#: calendar starts on a Monday with 5 rows a week (this fixes the weekly columns' warm-up).
WARMUPS: dict[str, int] = _warmups()


def a200_warmups() -> dict[str, int]:
    """First non-null row of every column a200 adds, on :func:`synthetic_history` (600 rows)."""
    ohlcv, vix = synthetic_history()
    frame = reference_features(ohlcv, vix, "a200")
    return {name: first_complete_row(frame, [name]) for name in A200_EXTRA}
