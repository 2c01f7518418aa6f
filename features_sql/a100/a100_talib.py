"""a100_talib: the a100 columns that are TA-Lib functions, plus the helper `ad` (TA-Lib AD).

TA-Lib is called once per ticker on its whole history from the first row (default
compatibility mode). `ad` is not an a100 column: a100_stats turns it into accumulation_dist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from fts.features.indicators import all_missing, as_float, nan_like


def _columns(g: pd.DataFrame) -> pd.DataFrame:
    """TA-Lib outputs for one ticker's rows (sorted by date, whole history)."""
    high, low, close, volume = (as_float(g[c]) for c in ("high", "low", "close", "volume"))
    cols: dict[str, np.ndarray] = {}
    # stoch_k_14, stoch_d_14: STOCH(14, 3, SMA, 3, SMA) slow %K and slow %D.
    cols["stoch_k_14"], cols["stoch_d_14"] = talib.STOCH(
        high, low, close, fastk_period=14, slowk_period=3, slowk_matype=0,
        slowd_period=3, slowd_matype=0,
    )
    # cci_14, mfi_14 (NULL without volume), williams_r_14.
    cols["cci_14"] = talib.CCI(high, low, close, timeperiod=14)
    has_volume = not all_missing(volume)
    cols["mfi_14"] = talib.MFI(high, low, close, volume, 14) if has_volume else nan_like(close)
    cols["williams_r_14"] = talib.WILLR(high, low, close, timeperiod=14)
    # ema_12, ema_26: TA-Lib EMA of close (SMA-seeded).
    cols["ema_12"] = talib.EMA(close, timeperiod=12)
    cols["ema_26"] = talib.EMA(close, timeperiod=26)
    # di_spread: PLUS_DI(14) - MINUS_DI(14).
    cols["di_spread"] = talib.PLUS_DI(high, low, close, 14) - talib.MINUS_DI(high, low, close, 14)
    # aroon_oscillator: AROONOSC(25).
    cols["aroon_oscillator"] = talib.AROONOSC(high, low, timeperiod=25)
    # Helper: the Chaikin A/D line, NULL without volume.
    cols["ad"] = talib.AD(high, low, close, volume) if has_volume else nan_like(close)
    return pd.DataFrame(cols)


def model(ctx):
    """One row per raw (ticker, date), untrimmed."""
    return ctx.per_ticker(ctx.source("ohlcv"), _columns)
