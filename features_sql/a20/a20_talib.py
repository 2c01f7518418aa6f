"""a20_talib: the TA-Lib columns of a20 and the TA-Lib outputs later tiers reuse.

TA-Lib is called once per ticker on its whole history from the first row (default
compatibility mode), so each value is exactly what TA-Lib returns. Besides a20's own columns this
model exposes helper columns that other tiers ref instead of calling TA-Lib again:
`macd_histogram` (an a50 column) and the Bollinger bands `bb_upper`, `bb_middle`, `bb_lower`
(a50's bb_width).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from fts.features.indicators import all_missing, as_float, nan_like, percent_b


def _columns(g: pd.DataFrame) -> pd.DataFrame:
    """All TA-Lib outputs for one ticker's rows (sorted by date, whole history)."""
    high, low, close, volume = (as_float(g[c]) for c in ("high", "low", "close", "volume"))
    cols: dict[str, np.ndarray] = {}
    # dema_9 .. dema_90, sma_12 .. sma_200: TA-Lib DEMA / SMA of close.
    for n in (9, 10, 20, 25, 90):
        cols[f"dema_{n}"] = talib.DEMA(close, timeperiod=n)
    for n in (12, 50, 100, 200):
        cols[f"sma_{n}"] = talib.SMA(close, timeperiod=n)
    # rsi_daily, stochrsi_daily: RSI(14) and STOCHRSI(14, fastk 5, fastd 3, SMA) fast %K.
    cols["rsi_daily"] = talib.RSI(close, timeperiod=14)
    cols["stochrsi_daily"] = talib.STOCHRSI(
        close, timeperiod=14, fastk_period=5, fastd_period=3, fastd_matype=0
    )[0]
    # macd_line (a20) and macd_histogram (a50) from one MACD(12, 26, 9) call.
    macd_line, _signal, macd_hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    cols["macd_line"] = macd_line
    # obv, adosc: volume indicators, NULL for a ticker without volume (missing_volume).
    if all_missing(volume):
        cols["obv"], cols["adosc"] = nan_like(close), nan_like(close)
    else:
        cols["obv"] = talib.OBV(close, volume)
        cols["adosc"] = talib.ADOSC(high, low, close, volume, fastperiod=3, slowperiod=10)
    # atr_14, adx_14.
    cols["atr_14"] = talib.ATR(high, low, close, timeperiod=14)
    cols["adx_14"] = talib.ADX(high, low, close, timeperiod=14)
    # bb_percent_b on BBANDS(close, 20, 2, 2, SMA); 0.5 when the bands coincide.
    upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    cols["bb_percent_b"] = percent_b(close, upper, lower, 20)
    # Helper columns for later tiers (not a20 columns).
    cols["macd_histogram"] = macd_hist
    cols["bb_upper"], cols["bb_middle"], cols["bb_lower"] = upper, middle, lower
    return pd.DataFrame(cols)


def model(ctx):
    """One row per raw (ticker, date), untrimmed."""
    return ctx.per_ticker(ctx.source("ohlcv"), _columns)
