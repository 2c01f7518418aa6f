"""The pandera schemas and the merge rule, exercised directly on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fts.core.errors import ValidationError
from fts.ingest.load import merge_series
from fts.ingest.validate import (
    calendar_gaps,
    check,
    normalize_ticker,
    parse_dates,
    series_schema,
)


def _frame(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]).astype("datetime64[ns]"),
        "open": [10.0, 11.0, 12.0], "high": [11.0, 12.0, 13.0], "low": [9.0, 10.0, 11.0],
        "close": [10.5, 11.5, 12.5], "volume": [100.0, 200.0, 300.0],
    })
    return frame.assign(**overrides)


def _check(frame: pd.DataFrame, close_only: bool = False) -> None:
    labels = [d.date().isoformat() for d in frame["date"]]
    check(series_schema(close_only=close_only), frame, source="T", row_labels=labels)


@pytest.mark.parametrize(("given", "stored"), [
    ("aapl", "AAPL"), ("^gspc", "^GSPC"), ("BRK-B", "BRK-B"), ("eurusd=x", "EURUSD=X"),
    (" spy ", "SPY"), ("RDS.A", "RDS.A"),
])
def test_ticker_symbols_are_upper_cased(given: str, stored: str):
    assert normalize_ticker(given) == stored


@pytest.mark.parametrize("bad", ["", "AAPL US", "$AAPL", "A" * 16, "ÄPFEL", "a/b"])
def test_wrong_ticker_symbols_are_rejected(bad: str):
    with pytest.raises(ValidationError, match="wrong ticker symbol"):
        normalize_ticker(bad, source="file.csv")


def test_a_valid_series_passes_with_volume_on_every_row_or_on_none():
    _check(_frame())
    _check(_frame(volume=np.nan))


def test_volume_empty_on_some_rows_only_is_rejected_at_the_first_empty_row():
    with pytest.raises(ValidationError) as err:
        _check(_frame(volume=[100.0, np.nan, 300.0]))
    assert err.value.row == "2024-01-03"
    assert err.value.reason.startswith("volume is empty but other rows have a volume")
    with pytest.raises(ValidationError, match="row 2024-01-02: volume is empty"):
        _check(_frame(volume=[np.nan, np.nan, 300.0]))


def test_dates_outside_the_nanosecond_range_are_unparsable_not_a_crash():
    dates = parse_dates(pd.Series(["0001-01-02", "1/2/9999", "2024-01-02"]))
    assert dates.isna().tolist() == [True, True, False]


def test_the_earliest_offending_row_is_reported_whatever_the_rule():
    frame = _frame(close=[10.5, 11.5, -1.0], high=[11.0, 9.5, 13.0])  # row 2 high < low too
    with pytest.raises(ValidationError) as err:
        _check(frame)
    assert (err.value.source, err.value.row) == ("T", "2024-01-03")
    assert err.value.reason == "high 9.5 is below low 10.0"


def test_high_must_cover_open_and_close_and_low_must_be_under_them():
    with pytest.raises(ValidationError, match=r"high 11.0 is below open 10.0 or close 11.2"):
        _check(_frame(close=[11.2, 11.5, 12.5]))
    with pytest.raises(ValidationError, match=r"low 11.0 is above open 12.0 or close 10.9"):
        _check(_frame(close=[10.5, 11.5, 10.9]).assign(low=[9.0, 10.0, 11.0]))


def test_close_only_series_needs_every_open_high_low_empty():
    closes = _frame(open=np.nan, high=np.nan, low=np.nan, volume=np.nan)
    _check(closes, close_only=True)
    with pytest.raises(ValidationError, match="open is 10.0 in a close-only series"):
        _check(closes.assign(open=[10.0, np.nan, np.nan]), close_only=True)
    with pytest.raises(ValidationError, match="open is NaN/empty"):  # and OHLC needs them all
        _check(_frame(open=[10.0, np.nan, 12.0]))


def test_merge_lets_new_rows_win_and_counts_added_and_changed():
    old = _frame(volume=[100.0, np.nan, 300.0])
    new = old.iloc[1:].assign(close=[11.5, 12.4])  # 01-03 same, 01-04 revised
    extra = old.iloc[[2]].assign(date=pd.Timestamp("2024-01-05"))
    merged, added, changed = merge_series(old, pd.concat([new, extra], ignore_index=True))
    assert (added, changed) == (1, 1)
    assert merged["close"].tolist() == [10.5, 11.5, 12.4, 12.5]
    assert merged["volume"].isna().tolist() == [False, True, False, False]


def test_calendar_gaps_longer_than_five_days_are_listed():
    dates = pd.Series(pd.to_datetime(["2024-01-05", "2024-01-09", "2024-01-16"]))
    assert calendar_gaps(dates) == [["2024-01-09", "2024-01-16", 7]]
