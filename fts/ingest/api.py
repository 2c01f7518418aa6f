"""The three ingestion entry points that `fts.Project` calls (one per `fts ingest` command).

Each reads and validates ALL of its input before the first write, then loads every ticker in
one transaction (`load_many`: all or none) and reports one progress line per ticker, plus
warning lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fts.core.errors import ConfigError
from fts.core.paths import ProjectPaths
from fts.ingest.load import LoadResult, load_many
from fts.ingest.series import SourceSeries
from fts.ingest.sources import read_csv_source, read_sample_sources
from fts.ingest.validate import normalize_ticker
from fts.ingest.yahoo import DEFAULT_ATTEMPTS, Downloader, fetch_yfinance_source, parse_day

Progress = Callable[[str], None]


def _silent(_: str) -> None:
    return None


def _load_all(paths: ProjectPaths, sources: list[SourceSeries], progress: Progress
              ) -> list[LoadResult]:
    results = load_many(paths, sources)
    for result in results:
        progress(result.summary())
        for line in result.warnings:
            progress(line)
    return results


def ingest_sample(paths: ProjectPaths, *, progress: Progress = _silent) -> list[LoadResult]:
    """Load the embedded sample: ^GSPC daily OHLCV 1999-2018, ^VIX closes 2014-2019.

    The files ship in fts/ingest/sample/ (copied from the `arch` package; provenance.json).

    ^GSPC uses Adj Close as close; ^VIX is a close-only series (open/high/low/volume empty).
    """
    return _load_all(paths, read_sample_sources(), progress)


def ingest_csv(
    paths: ProjectPaths, path: Path, ticker: str, *, adjusted: bool = True,
    progress: Progress = _silent,
) -> LoadResult:
    """Load a Yahoo-style daily CSV (Date, Open, High, Low, Close, [Adj Close], Volume).

    With `adjusted` (the default) and an Adj Close column, close is Adj Close and open/high/low
    are scaled by Adj Close / Close; otherwise close is the raw Close.
    """
    series = read_csv_source(Path(path), ticker, adjusted=adjusted)
    return _load_all(paths, [series], progress)[0]


def ingest_yfinance(
    paths: ProjectPaths,
    tickers: list[str],
    *,
    start: str | None = None,
    end: str | None = None,
    progress: Progress = _silent,
    downloader: Downloader | None = None,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = DEFAULT_ATTEMPTS,
) -> list[LoadResult]:
    """Download daily adjusted bars from Yahoo Finance and load them, one load per ticker.

    `start` is inclusive and `end` exclusive (YYYY-MM-DD); without `start` the whole history is
    requested. Every ticker is downloaded and validated before the first one is stored, so one
    unknown symbol changes nothing. `downloader(ticker, start=..., end=...)` replaces the
    yfinance call (tests pass recorded frames); `sleep` is the retry back-off's clock.
    """
    symbols = list(dict.fromkeys(normalize_ticker(t, source="yfinance") for t in tickers))
    if not symbols:
        raise ConfigError("no ticker given: name at least one symbol, e.g. AAPL or ^GSPC")
    start, end = parse_day(start, "--start"), parse_day(end, "--end")
    if start and end and start >= end:
        raise ConfigError(f"--start {start} must be before --end {end} (end is exclusive)")
    sources = [
        fetch_yfinance_source(t, start=start, end=end, downloader=downloader, attempts=attempts,
                              sleep=sleep, progress=progress)
        for t in symbols
    ]
    return _load_all(paths, sources, progress)
