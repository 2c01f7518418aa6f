"""A recorded yfinance response and a downloader that serves it the way yfinance would."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "ingest"
MSFT_RECORDING = RESOURCES / "yfinance_MSFT_history_2024-01.csv"


def load_recorded_history(path: Path = MSFT_RECORDING) -> pd.DataFrame:
    """The DataFrame `Ticker.history()` returned: tz-aware America/New_York index named Date."""
    frame = pd.read_csv(path, index_col="Date")
    frame.index = pd.to_datetime(frame.index, utc=True).tz_convert("America/New_York")
    frame.index.name = "Date"
    return frame


def empty_history() -> pd.DataFrame:
    """What yfinance returns for an unknown symbol when it does not raise: no rows."""
    return pd.DataFrame(columns=["Open", "High", "Low", "Close", "Volume"],
                        index=pd.DatetimeIndex([], tz="America/New_York", name="Date"))


class RecordedDownloader:
    """A `downloader(ticker, start=, end=)` serving recorded frames (start inclusive, end
    exclusive, like yfinance), failing the first `failures` calls with a connection error."""

    def __init__(self, frames: dict[str, pd.DataFrame], failures: int = 0):
        self.frames = frames
        self.failures = failures
        self.calls: list[tuple[str, str | None, str | None]] = []

    def __call__(self, ticker: str, *, start: str | None, end: str | None) -> pd.DataFrame:
        self.calls.append((ticker, start, end))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection reset by peer (simulated)")
        frame = self.frames.get(ticker)
        if frame is None:
            return empty_history()
        local_day = pd.Series(frame.index.tz_localize(None).normalize(), index=frame.index)
        after_start = local_day >= pd.Timestamp(start) if start else local_day.notna()
        before_end = local_day < pd.Timestamp(end) if end else local_day.notna()
        return frame[after_start & before_end]
