"""The yfinance source: download daily bars with retries and turn them into a `SourceSeries`.

A *downloader* is any callable `downloader(ticker, start=..., end=...) -> DataFrame` returning
what `yfinance.Ticker.history(interval="1d", auto_adjust=True)` returns: columns Open, High,
Low, Close, Volume (extra columns such as Dividends are ignored) and a DatetimeIndex in the
exchange's time zone. Tests pass a recorded frame; the default calls yfinance.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import time
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd

from fts.core.errors import ConfigError, FtsError, NotFoundError, ValidationError
from fts.core.manifest import utc_now
from fts.ingest.series import SourceSeries
from fts.ingest.validate import check, series_schema

Downloader = Callable[..., pd.DataFrame]
Progress = Callable[[str], None]

REQUIRED = ["Open", "High", "Low", "Close", "Volume"]
DEFAULT_ATTEMPTS = 4
DEFAULT_BASE_DELAY_S = 1.0


def yfinance_download(ticker: str, *, start: str | None, end: str | None) -> pd.DataFrame:
    """Daily adjusted bars of `ticker` from Yahoo Finance (the whole history if no start).

    Errors are raised rather than logged (yfinance's default is to log them and return an
    empty frame, which would make a network failure look like an unknown symbol).
    """
    try:
        import yfinance as yf
    except ImportError:  # an optional extra: a one-line error, never retried (an FtsError)
        raise ConfigError("fts ingest yfinance needs the yfinance package: "
                          "pip install 'fts[yfinance]'") from None

    kwargs: dict[str, Any] = {"interval": "1d", "auto_adjust": True, "actions": False}
    if start is None:
        kwargs["period"] = "max"
    with warnings.catch_warnings():
        # `raise_errors` is deprecated in favour of a process-wide switch; the keyword keeps
        # the choice local to this call.
        warnings.simplefilter("ignore", DeprecationWarning)
        return yf.Ticker(ticker).history(start=start, end=end, raise_errors=True, **kwargs)


def _is_permanent(exc: Exception) -> bool:
    """Errors that retrying cannot fix: an unknown symbol, a bad range, our own errors.

    Anything else (connection errors, rate limits, a garbled reply) is worth another try.
    """
    if isinstance(exc, FtsError):
        return True
    try:
        from yfinance.exceptions import YFInvalidPeriodError, YFTickerMissingError
    except ImportError:  # the yfinance extra is not installed
        return False
    return isinstance(exc, YFTickerMissingError | YFInvalidPeriodError)


def download_with_retries(
    downloader: Downloader,
    ticker: str,
    *,
    start: str | None,
    end: str | None,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY_S,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress = lambda _: None,
) -> pd.DataFrame:
    """Call `downloader`, retrying transient failures after base_delay * 2**k seconds.

    An unknown symbol (yfinance's "ticker missing" errors, or an empty frame) is not retried:
    it raises `NotFoundError` at once.
    """
    frame: pd.DataFrame | None = None
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            frame = downloader(ticker, start=start, end=end)
            break
        except Exception as exc:
            if _is_permanent(exc):
                if isinstance(exc, FtsError):
                    raise
                raise NotFoundError(f"yfinance:{ticker}: {_one_line(exc)}") from exc
            if attempt == attempts:
                raise FtsError(
                    f"yfinance:{ticker}: download failed after {attempts} attempts: "
                    f"{_one_line(exc)}"
                ) from exc
            delay = base_delay * 2 ** (attempt - 1)
            progress(f"warning: {ticker}: download failed ({_one_line(exc)}); "
                     f"retry {attempt}/{attempts - 1} in {delay:g}s")
            sleep(delay)
    if frame is None or len(frame) == 0:
        span = f"from {start or 'the beginning'} to {end or 'today'}"
        raise NotFoundError(
            f"yfinance:{ticker}: Yahoo Finance returned no rows {span} "
            "(unknown or delisted symbol, or no trading days in that range)"
        )
    return frame


def exchange_dates(index: pd.Index, exchange_tz: str | None = None) -> pd.Series:
    """The plain trading date of each bar: its wall-clock date at the exchange.

    yfinance stamps daily bars at local midnight in the exchange's zone; taking the local date
    keeps them on their trading day, whereas converting to UTC first would move every bar of
    an exchange east of Greenwich to the previous day. `exchange_tz` re-expresses an index
    given in another zone (UTC, say) in the exchange's zone first.
    """
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        if exchange_tz:
            idx = idx.tz_convert(exchange_tz)
        idx = idx.tz_localize(None)
    return pd.Series(idx.normalize().astype("datetime64[ns]"))


def frame_from_history(history: pd.DataFrame, ticker: str, label: str) -> pd.DataFrame:
    """Validate a yfinance history frame and return it as a typed series frame."""
    if isinstance(history.columns, pd.MultiIndex):  # yf.download(...) groups by (field, ticker)
        history = history.droplevel(list(range(1, history.columns.nlevels)), axis=1)
    missing = [c for c in REQUIRED if c not in history.columns]
    if missing:
        raise ValidationError(
            f"download has no column(s) {', '.join(missing)} (got {', '.join(map(str, history.columns))})",
            source=label,
        )
    if not isinstance(history.index, pd.DatetimeIndex):
        raise ValidationError("download has no date index", source=label)
    dates = exchange_dates(history.index, history.attrs.get("exchange_timezone"))
    frame = pd.DataFrame({
        "date": dates,
        **{c.lower(): history[c].to_numpy(dtype="float64") for c in REQUIRED},
    })
    labels = [d.date().isoformat() for d in frame["date"]]
    check(series_schema(close_only=False), frame, source=label, row_labels=labels)
    return frame


def parse_day(value: str | dt.date | None, option: str) -> str | None:
    """Check a --start/--end value is a date and return it as YYYY-MM-DD."""
    if value is None or isinstance(value, dt.date):
        return value.isoformat() if value else None
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date (expected YYYY-MM-DD)") from None


def fetch_yfinance_source(
    ticker: str,
    *,
    start: str | None,
    end: str | None,
    downloader: Downloader | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress = lambda _: None,
) -> SourceSeries:
    """Download, validate and describe one ticker's bars (nothing is written)."""
    label = f"yfinance:{ticker}"
    download = downloader or yfinance_download
    history = download_with_retries(download, ticker, start=start, end=end, attempts=attempts,
                                    sleep=sleep, progress=progress)
    frame = frame_from_history(history, ticker, label)
    source = {
        "kind": "yfinance",
        "ticker": ticker,
        "requested_start": start,
        "requested_end": end,
        "interval": "1d",
        "auto_adjust": True,
        "downloaded_at": utc_now(),
        "yfinance_version": importlib.metadata.version("yfinance"),
        "downloader": "yfinance.Ticker.history" if downloader is None
        else getattr(downloader, "__qualname__", type(downloader).__name__),
    }
    return SourceSeries(ticker=ticker, frame=frame, source_kind="yfinance", label=label,
                        source=source, options={"adjusted": True, "close_column": "Close"})


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
