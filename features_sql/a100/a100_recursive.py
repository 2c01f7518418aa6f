"""a100_recursive: the recursive a100 columns.

- price_pct_from_supertrend, supertrend_direction: SuperTrend on TA-Lib ATR(10), multiplier 3
  (see indicators.supertrend).
- days_since_sma_50_cross, days_since_sma_200_cross: rows since the sign of close - sma_n last
  changed, on a20_talib's TA-Lib SMAs (untrimmed).
- `vpt` (helper, not an a100 column): the volume price trend, the cumulative sum from the second
  row of volume * (close / previous close - 1); a100_stats normalises it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fts.features.indicators import as_float, days_since_sign_change, nan_like, supertrend


def _volume_price_trend(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Running sum of volume * simple return; undefined on the first row (no return yet)."""
    out = nan_like(close)
    if len(close) > 1:
        out[1:] = np.cumsum(volume[1:] * (close[1:] / close[:-1] - 1.0))
    return out


def _columns(g: pd.DataFrame) -> pd.DataFrame:
    """The recursive columns for one ticker's rows (whole history, sorted by date)."""
    high, low, close, volume = (as_float(g[c]) for c in ("high", "low", "close", "volume"))
    line, direction = supertrend(high, low, close, period=10, multiplier=3.0)
    return pd.DataFrame(
        {
            "price_pct_from_supertrend": 100.0 * (close - line) / line,
            "supertrend_direction": direction,
            "days_since_sma_50_cross": days_since_sign_change(close - as_float(g["sma_50"])),
            "days_since_sma_200_cross": days_since_sign_change(close - as_float(g["sma_200"])),
            "vpt": _volume_price_trend(close, volume),
        }
    )


def model(ctx):
    """One row per raw (ticker, date), untrimmed."""
    ohlcv = ctx.source("ohlcv")
    smas = ctx.ref("a20_talib", columns=["sma_50", "sma_200"])
    frame = ohlcv.merge(smas, on=["ticker", "date"], how="left", validate="one_to_one")
    return ctx.per_ticker(frame, _columns)
