"""a50_recursive: the recursive a50 columns (EMAs of derived series, Schaff trend cycle, Klinger).

- qqe_fast, qqe_slow: EMA(5) and EMA(14) of rsi_daily (from a20_talib, untrimmed), seeded with
  the mean of the first n RSI values.
- stc: Schaff trend cycle on TA-Lib MACD(close, 23, 50, 10), see indicators.schaff_trend_cycle.
- kvo_signal: Klinger EMA(13) of KVO; `kvo` (the KVO line itself) is a helper column that a100's
  kvo_histogram refs, so the oscillator is computed only here.
"""

from __future__ import annotations

import pandas as pd

from fts.features.indicators import as_float, ema_seeded, klinger, schaff_trend_cycle


def _columns(g: pd.DataFrame) -> pd.DataFrame:
    """The recursive columns for one ticker's rows (whole history, sorted by date)."""
    rsi = as_float(g["rsi_daily"])
    kvo, kvo_signal = klinger(g["high"], g["low"], g["close"], g["volume"], 34, 55, 13)
    return pd.DataFrame(
        {
            "qqe_fast": ema_seeded(rsi, 5),
            "qqe_slow": ema_seeded(rsi, 14),
            "stc": schaff_trend_cycle(g["close"], 23, 50, 10, 10, 3),
            "kvo": kvo,
            "kvo_signal": kvo_signal,
        }
    )


def model(ctx):
    """One row per raw (ticker, date), untrimmed."""
    ohlcv = ctx.source("ohlcv")
    rsi = ctx.ref("a20_talib", columns=["rsi_daily"])
    frame = ohlcv.merge(rsi, on=["ticker", "date"], how="left", validate="one_to_one")
    return ctx.per_ticker(frame, _columns)
