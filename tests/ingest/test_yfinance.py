"""`fts ingest yfinance` with a recorded response: exchange dates, extension by --start, retries
with exponential back-off, unknown symbols. No test touches the network."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yfinance

from fts.core.errors import FtsError, NotFoundError, ValidationError
from fts.core.paths import ProjectPaths
from fts.ingest import ingest_yfinance
from fts.ingest.yahoo import exchange_dates
from tests.ingest.helpers import one_line, rows, run_fts, snapshot
from tests.ingest.recorded import RecordedDownloader, load_recorded_history

MSFT = load_recorded_history()


def _ingest(project: Path, tickers: list[str], downloader, **kwargs):
    lines: list[str] = []
    results = ingest_yfinance(ProjectPaths(project), tickers, progress=lines.append,
                              downloader=downloader, sleep=kwargs.pop("sleep", lambda s: None),
                              **{"start": None, "end": None, **kwargs})
    return results, lines


def test_recorded_response_loads_on_the_exchange_trading_dates(tmp_path: Path):
    results, lines = _ingest(tmp_path, ["msft"], RecordedDownloader({"MSFT": MSFT}))
    assert lines == [f"MSFT: loaded 13 rows 2024-01-02..2024-01-19 (new series) as load "
                     f"{results[0].load_id[:12]}"]
    got = rows(tmp_path, "SELECT date::VARCHAR, close, volume FROM raw.ohlcv ORDER BY date")
    assert [g[0] for g in got] == [d.strftime("%Y-%m-%d") for d in MSFT.index]
    assert [g[1] for g in got] == MSFT["Close"].tolist()
    assert [g[2] for g in got] == MSFT["Volume"].astype(float).tolist()


def test_start_extends_the_history_instead_of_truncating_it(tmp_path: Path):
    recording = RecordedDownloader({"MSFT": MSFT})
    _ingest(tmp_path, ["MSFT"], recording, end="2024-01-10")
    (result,), lines = _ingest(tmp_path, ["MSFT"], recording, start="2024-01-08")
    assert recording.calls == [("MSFT", None, "2024-01-10"), ("MSFT", "2024-01-08", None)]
    assert (result.rows_changed, result.rows_added, result.row_count) == (0, 7, 13)
    assert "(0 existing rows changed, 7 rows added)" in lines[0]
    assert rows(tmp_path, "SELECT count(*), min(date)::VARCHAR FROM raw.ohlcv") == [
        (13, "2024-01-02")]


def test_a_redownload_with_revised_prices_counts_the_changed_rows(tmp_path: Path):
    _ingest(tmp_path, ["MSFT"], RecordedDownloader({"MSFT": MSFT}))
    revised = MSFT.copy()
    revised.iloc[:3, revised.columns.get_loc("Close")] *= 0.999  # a new dividend adjustment
    revised.iloc[:3, revised.columns.get_loc("Low")] *= 0.999
    (result,), lines = _ingest(tmp_path, ["MSFT"], RecordedDownloader({"MSFT": revised}))
    assert (result.status, result.rows_changed, result.rows_added) == ("loaded", 3, 0)
    (again,), lines = _ingest(tmp_path, ["MSFT"], RecordedDownloader({"MSFT": revised}))
    assert again.unchanged and lines[0].startswith("MSFT: unchanged (13 rows")


def test_failed_downloads_are_retried_with_exponential_backoff(tmp_path: Path):
    slept: list[float] = []
    flaky = RecordedDownloader({"MSFT": MSFT}, failures=2)
    (result,), lines = _ingest(tmp_path, ["MSFT"], flaky, sleep=slept.append)
    assert slept == [1.0, 2.0]
    assert len(flaky.calls) == 3 and result.row_count == 13
    assert lines[:2] == [
        "warning: MSFT: download failed (Connection reset by peer (simulated)); retry 1/3 in 1s",
        "warning: MSFT: download failed (Connection reset by peer (simulated)); retry 2/3 in 2s",
    ]


def test_a_download_that_keeps_failing_gives_up_with_a_clear_error(tmp_path: Path):
    slept: list[float] = []
    with pytest.raises(FtsError, match=r"yfinance:MSFT: download failed after 4 attempts: "
                                       r"Connection reset"):
        _ingest(tmp_path, ["MSFT"], RecordedDownloader({"MSFT": MSFT}, failures=99),
                sleep=slept.append)
    assert slept == [1.0, 2.0, 4.0]
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_unknown_ticker_is_a_clear_error_and_loads_no_ticker_at_all(sample_project_dir: Path):
    before = snapshot(sample_project_dir)
    slept: list[float] = []
    with pytest.raises(NotFoundError, match=r"yfinance:NOSUCHSYMBOL: Yahoo Finance returned no "
                                            r"rows .*unknown or delisted symbol"):
        _ingest(sample_project_dir, ["MSFT", "NOSUCHSYMBOL"],
                RecordedDownloader({"MSFT": MSFT}), sleep=slept.append)
    assert slept == []  # an unknown symbol is not retried
    assert snapshot(sample_project_dir) == before


def test_a_bad_bar_in_the_download_is_rejected_naming_ticker_and_date(tmp_path: Path):
    broken = MSFT.copy()
    broken.iloc[3, broken.columns.get_loc("High")] = broken["Low"].iloc[3] - 1
    with pytest.raises(ValidationError) as err:
        _ingest(tmp_path, ["MSFT"], RecordedDownloader({"MSFT": broken}))
    assert (err.value.source, err.value.row) == ("yfinance:MSFT", "2024-01-05")
    assert "is below low" in err.value.reason
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_yfinance_ticker_missing_error_is_not_retried(tmp_path: Path):
    from yfinance.exceptions import YFTzMissingError

    def delisted(ticker, *, start, end):
        raise YFTzMissingError(ticker)

    with pytest.raises(NotFoundError, match="no timezone found"):
        _ingest(tmp_path, ["GONE"], delisted, sleep=lambda s: pytest.fail("retried"))


def test_tz_aware_bars_keep_their_local_trading_date_never_the_utc_one():
    tokyo = pd.DatetimeIndex(["2024-01-04", "2024-01-05"]).tz_localize("Asia/Tokyo")
    # Converting to UTC would give 2024-01-03 and 2024-01-04.
    assert exchange_dates(tokyo).dt.strftime("%Y-%m-%d").tolist() == ["2024-01-04", "2024-01-05"]
    as_utc = tokyo.tz_convert("UTC")
    assert exchange_dates(as_utc, "Asia/Tokyo").dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-04", "2024-01-05"]
    assert str(exchange_dates(MSFT.index).dtype) == "datetime64[ns]"


def test_manifest_records_ticker_range_download_time_and_yfinance_version(tmp_path: Path):
    (result,), _ = _ingest(tmp_path, ["MSFT"], RecordedDownloader({"MSFT": MSFT}),
                           start="2024-01-01", end="2024-01-20")
    source = json.loads(result.manifest_path.read_text())["body"]["source"]
    assert source["kind"] == "yfinance" and source["ticker"] == "MSFT"
    assert (source["requested_start"], source["requested_end"]) == ("2024-01-01", "2024-01-20")
    assert source["yfinance_version"] == yfinance.__version__
    assert source["downloaded_at"].endswith("+00:00")


class _FakeTicker:
    """Stands in for yfinance.Ticker: records how history() is called, returns the recording."""

    calls: list[dict] = []

    def __init__(self, symbol: str):
        self.symbol = symbol

    def history(self, **kwargs):
        _FakeTicker.calls.append({"symbol": self.symbol, **kwargs})
        return MSFT


def test_cli_downloads_daily_adjusted_bars_through_yfinance(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    _FakeTicker.calls = []
    monkeypatch.setattr(yfinance, "Ticker", _FakeTicker)
    result = run_fts(tmp_path, "ingest", "yfinance", "msft", "--start", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("MSFT: loaded 13 rows 2024-01-02..2024-01-19")
    (call,) = _FakeTicker.calls
    assert call["symbol"] == "MSFT" and call["start"] == "2024-01-01" and call["end"] is None
    assert call["interval"] == "1d" and call["auto_adjust"] is True and "period" not in call


def test_cli_without_start_asks_for_the_whole_history(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch):
    _FakeTicker.calls = []
    monkeypatch.setattr(yfinance, "Ticker", _FakeTicker)
    assert run_fts(tmp_path, "ingest", "yfinance", "MSFT").exit_code == 0
    assert _FakeTicker.calls[0]["period"] == "max"


@pytest.mark.parametrize(("args", "message"), [
    (["MSFT US"], "wrong ticker symbol 'MSFT US'"),
    (["MSFT", "--start", "2024-13-01"], "--start '2024-13-01' is not a date"),
    (["MSFT", "--start", "2024-02-01", "--end", "2024-01-01"], "must be before --end"),
])
def test_cli_rejects_bad_symbols_and_dates_before_downloading(tmp_path: Path, args, message,
                                                              monkeypatch: pytest.MonkeyPatch):
    _FakeTicker.calls = []
    monkeypatch.setattr(yfinance, "Ticker", _FakeTicker)
    result = run_fts(tmp_path, "ingest", "yfinance", *args)
    assert result.exit_code == 1
    assert message in one_line(result)
    assert _FakeTicker.calls == []
