"""A synthetic universe for the scale benchmarks, and a process-tree peak-memory sampler.

Each ticker is a random walk with valid OHLCV bars, generated from its own seed, so that any
subset (the reference's sample) can be regenerated without the rest and a universe of 5,000
tickers never has to sit in memory at once. It is ingested through the library's `load_many`
(merge, pandera check, manifests, one transaction per batch), as `fts ingest` would store it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from fts.ingest.load import load_many
from fts.ingest.series import SERIES_COLUMNS, SourceSeries
from fts.project import Project

START = "1990-01-01"
VIX = "^VIX"
INGEST_BATCH = 250  # tickers per load_many transaction (~1.9M rows at 30 years)


def ticker_name(i: int) -> str:
    """The i-th synthetic ticker's symbol."""
    return f"T{i:04d}"


def trading_days(years: int) -> pd.DatetimeIndex:
    """252 business days a year from 1990-01-01."""
    return pd.bdate_range(START, periods=252 * years)


def ticker_frame(i: int, years: int, seed: int = 0) -> pd.DataFrame:
    """Ticker i's bars (SERIES_COLUMNS: date, open, high, low, close, volume)."""
    rng = np.random.default_rng([seed, i])
    dates = trading_days(years)
    n = len(dates)
    close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    volume = rng.integers(100_000, 10_000_000, n).astype(float)
    return pd.DataFrame({"date": dates.astype("datetime64[ns]"), "open": open_, "high": high,
                         "low": low, "close": close, "volume": volume})


def vix_frame(years: int, seed: int = 0) -> pd.DataFrame:
    """The universe's ^VIX closes (date, close) on the same trading days."""
    rng = np.random.default_rng([seed, 999_999])
    dates = trading_days(years)
    close = 18 * np.exp(np.cumsum(rng.normal(0, 0.05, len(dates))) * 0.1)
    return pd.DataFrame({"date": dates.astype("datetime64[ns]"), "close": close})


def _series(ticker: str, frame: pd.DataFrame, close_only: bool = False) -> SourceSeries:
    return SourceSeries(ticker=ticker, frame=frame[SERIES_COLUMNS], source_kind="csv",
                        label=f"synthetic:{ticker}", source={"kind": "synthetic"},
                        close_only=close_only)


def ingest_universe(root: Path, n_tickers: int, years: int, seed: int = 0) -> int:
    """Generate and load N tickers and ^VIX into the project at `root`, INGEST_BATCH tickers
    per transaction; returns the raw rows loaded (tickers only)."""
    paths = Project(root).paths
    rows = 0
    for lo in range(0, n_tickers, INGEST_BATCH):
        batch = [_series(ticker_name(i), ticker_frame(i, years, seed))
                 for i in range(lo, min(lo + INGEST_BATCH, n_tickers))]
        rows += sum(len(s.frame) for s in batch)
        load_many(paths, batch)
    vix = vix_frame(years, seed).assign(open=np.nan, high=np.nan, low=np.nan, volume=np.nan)
    load_many(paths, [_series(VIX, vix, close_only=True)])
    return rows


class PeakRss:
    """Samples the resident memory of this process and all its descendants (summed: parallel
    build processes count together) every `interval` seconds; `peak` is the largest sum."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        """Current resident bytes of the process tree."""
        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a child that just ended
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())
