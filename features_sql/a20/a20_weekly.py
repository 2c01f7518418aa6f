"""a20_weekly: rsi_weekly and stochrsi_weekly, TA-Lib RSI / STOCHRSI on calendar-week bars.

A week runs Monday..Sunday; the first (possibly partial) week counts as a bar. TA-Lib runs on
the ticker's whole series of weekly closes, and each daily row takes the value of the last
COMPLETED week (the bar before its own week), so no row sees its unfinished week.
"""

from __future__ import annotations

import pandas as pd
import talib

from fts.features.indicators import last_completed_week, weekly_bars


def _columns(g: pd.DataFrame) -> pd.DataFrame:
    """Weekly RSI(14) and STOCHRSI(14, 5, 3, SMA) fast %K, mapped back to daily rows."""
    bars, bar_of_day = weekly_bars(g)
    weekly_close = bars["close"].to_numpy(dtype=float)
    rsi = talib.RSI(weekly_close, timeperiod=14)
    stochrsi = talib.STOCHRSI(
        weekly_close, timeperiod=14, fastk_period=5, fastd_period=3, fastd_matype=0
    )[0]
    return pd.DataFrame(
        {
            "rsi_weekly": last_completed_week(rsi, bar_of_day),
            "stochrsi_weekly": last_completed_week(stochrsi, bar_of_day),
        }
    )


def model(ctx):
    """One row per raw (ticker, date), untrimmed."""
    return ctx.per_ticker(ctx.source("ohlcv"), _columns)
