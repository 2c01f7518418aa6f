"""a200_talib: the a200 columns that are TA-Lib functions or built from them, plus helpers.

TA-Lib is called once per ticker on its whole history from the first row (default
compatibility mode, default unstable periods). Columns: tema_9 .. tema_100 (TEMA), wma_10 ..
wma_200 (WMA), kama_10 .. kama_50 (KAMA), hma_9 .. hma_50 (Hull MA from TA-Lib WMA; TA-Lib has
no HMA) and macd_signal (MACD(12, 26, 9)). Helpers (not a200 columns), read by a200_stats:
`sma_9` (TA-Lib SMA(close, 9), so that ties with close are TA-Lib's exact values) and the
Keltner channel `kc_upper`, `kc_lower` = EMA(close, 20) +- 1.5 * ATR(20) of bb_squeeze_indicator.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib

from fts.features.indicators import as_float, nan_like


def hull_moving_average(close: np.ndarray, n: int) -> np.ndarray:
    """HMA(n): WMA(2 * WMA(close, n // 2) - WMA(close, n), isqrt(n)).

    The raw series is defined from row n - 1; the outer WMA runs on its defined rows only (a
    NaN inside TA-Lib's window would poison it), so the first value is at row n + isqrt(n) - 2.
    """
    raw = 2.0 * talib.WMA(close, timeperiod=n // 2) - talib.WMA(close, timeperiod=n)
    out = nan_like(close)
    span = math.isqrt(n)
    if len(close) >= n - 1 + span:
        out[n - 1 :] = talib.WMA(raw[n - 1 :], timeperiod=span)
    return out


def _columns(g: pd.DataFrame) -> pd.DataFrame:
    """TA-Lib outputs for one ticker's rows (sorted by date, whole history)."""
    high, low, close = (as_float(g[c]) for c in ("high", "low", "close"))
    cols: dict[str, np.ndarray] = {}
    for n in (9, 20, 50, 100):
        cols[f"tema_{n}"] = talib.TEMA(close, timeperiod=n)
    for n in (10, 20, 50, 200):
        cols[f"wma_{n}"] = talib.WMA(close, timeperiod=n)
    for n in (10, 20, 50):
        cols[f"kama_{n}"] = talib.KAMA(close, timeperiod=n)
    for n in (9, 21, 50):
        cols[f"hma_{n}"] = hull_moving_average(close, n)
    cols["macd_signal"] = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)[1]
    # Helpers for a200_stats.
    cols["sma_9"] = talib.SMA(close, timeperiod=9)
    ema_20 = talib.EMA(close, timeperiod=20)
    atr_20 = talib.ATR(high, low, close, timeperiod=20)
    cols["kc_upper"] = ema_20 + 1.5 * atr_20
    cols["kc_lower"] = ema_20 - 1.5 * atr_20
    return pd.DataFrame(cols)


def model(ctx):
    """One row per raw (ticker, date), untrimmed."""
    return ctx.per_ticker(ctx.source("ohlcv"), _columns)
