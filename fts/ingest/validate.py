"""Validation of daily price series with pandera, run before anything is written.

Two schemas:
- `file_schema` checks a CSV as text: the right columns, and every cell parseable.
- `series_schema` checks typed rows: unique, strictly increasing, not-future dates; finite
  prices within PRICE_MIN..PRICE_MAX; high >= max(open, close) and low <= min(open, close);
  Adj Close / Close within ADJ_RATIO_MIN..ADJ_RATIO_MAX; volume finite in 0..VOLUME_MAX, and in
  an OHLC series empty on every row or on none.

`check` runs a schema lazily and turns pandera's table of failures into ONE `ValidationError`
naming the first offending row (its 1-based data row in the file, or its date) and the reason.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from fts.core.errors import ValidationError

# 1-15 of the characters Yahoo symbols use, at least one of them a letter or digit ("..", "^"
# and "=" alone name nothing).
TICKER_PATTERN = re.compile(r"^(?=.*[A-Z0-9])[A-Z0-9^.\-=]{1,15}$")
#: Plausible prices: a real quote is neither below a millionth (1e-308 is an overflow waiting to
#: happen, not a price) nor above a billion per share; outside, the file is broken or scaled.
PRICE_MIN, PRICE_MAX = 1e-6, 1e9
#: Adj Close / Close: dividends and splits move it by orders of magnitude at most over a
#: century of history; a ratio of 1e300 is a broken column, not an adjustment.
ADJ_RATIO_MIN, ADJ_RATIO_MAX = 1e-3, 1e3
#: Shares traded in one day: below 1e15 (the busiest symbols trade ~1e10).
VOLUME_MAX = 1e15
# A date cell: the whole cell is the date, optionally followed by a midnight time and a zone
# ("2024-01-02 00:00:00-05:00", as yfinance writes daily bars). Nothing else may follow.
_MIDNIGHT = r"(?:[ T]00:00(?::00(?:\.0+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO_DATE = rf"\d{{4}}-\d{{2}}-\d{{2}}{_MIDNIGHT}"
_US_DATE = r"\d{1,2}/\d{1,2}/\d{4}"
#: Consecutive trading dates further apart than this are reported as a calendar gap (a normal
#: weekend plus a holiday is at most 4 days: Friday -> Tuesday).
MAX_NORMAL_GAP_DAYS = 5
#: How cells spell "no value" in Yahoo-style CSVs.
MISSING_CELLS = ("", "null", "NULL", "None")
_NON_FINITE_WORDS = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def normalize_ticker(symbol: str, source: str | None = None) -> str:
    """Upper-case `symbol` and check it looks like a Yahoo symbol (^GSPC, BRK-B, EURUSD=X)."""
    ticker = (symbol or "").strip().upper()
    if not TICKER_PATTERN.match(ticker):
        raise ValidationError(
            f"wrong ticker symbol {symbol!r}: use 1-15 letters, digits or ^ . - =, at least one "
            "letter or digit (e.g. AAPL, ^GSPC)",
            source=source,
        )
    return ticker


def latest_possible_date() -> dt.date:
    """The latest trading date that can exist now: the date in the easternmost time zone (UTC+14).

    Checking against the local date would reject today's bar of an exchange east of here.
    """
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()


def parse_dates(cells: pd.Series) -> pd.Series:
    """Parse date cells: exactly YYYY-MM-DD, optionally with a midnight time (and zone), or
    M/D/YYYY (US, Yahoo). Anything else in the cell (another time of day, text, a newline)
    makes it unparseable.

    The midnight time is dropped rather than converted, so "2024-01-02 00:00:00-05:00" stays the
    trading date 2024-01-02 (converting to UTC first would move Asian bars to the day before).
    Unparseable cells become NaT, and so do dates outside what datetime64[ns] can hold
    (1677-09-22..2262-04-11, e.g. "0001-01-02"): no trading date lies there, and casting them
    would raise instead of naming the row.
    """
    # Only spaces are trimmed: a newline or any other character in the cell is not a date.
    text = cells.astype("string").str.strip(" ")
    iso = text.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
    us = text.str.fullmatch(_US_DATE).fillna(False).astype(bool)
    iso_dates = pd.to_datetime(text.where(iso).str.slice(0, 10), format="%Y-%m-%d",
                               errors="coerce")
    us_dates = pd.to_datetime(text.where(us), format="%m/%d/%Y", errors="coerce")
    dates = iso_dates.fillna(us_dates)
    return dates.where(dates.between(pd.Timestamp.min, pd.Timestamp.max)).astype("datetime64[ns]")


def parse_numbers(cells: pd.Series) -> pd.Series:
    """Parse number cells to float64; missing cells and unparseable text become NaN."""
    text = cells.astype("string").str.strip()
    return pd.to_numeric(text.mask(text.isin(MISSING_CELLS)), errors="coerce").astype("float64")


def _is_number_cell(cells: pd.Series) -> pd.Series:
    text = cells.astype("string").str.strip()
    ok = text.isin(MISSING_CELLS) | text.str.lower().isin(_NON_FINITE_WORDS)
    return (ok | parse_numbers(cells).notna()).fillna(True).astype(bool)


def file_schema(columns: dict[str, str], optional: Sequence[str] = ()) -> pa.DataFrameSchema:
    """Schema of a CSV read as text, after its header was mapped to canonical names.

    `columns` maps canonical name -> the name shown to users ("adj_close" -> "Adj Close");
    `optional` lists canonical names that may be absent. Unknown columns are rejected.
    """
    def cell_checks(name: str) -> list[pa.Check]:
        if name == "date":
            return [pa.Check(lambda s: parse_dates(s).notna(), name="date_parses")]
        return [pa.Check(_is_number_cell, name="number_parses")]

    return pa.DataFrameSchema(
        {
            name: pa.Column(checks=cell_checks(name), nullable=True, required=name not in optional)
            for name in columns
        },
        strict=True,
    )


def _price_ok(s: pd.Series) -> pd.Series:
    return (pd.Series(np.isfinite(s.to_numpy(dtype="float64")), index=s.index)
            & (s >= PRICE_MIN) & (s <= PRICE_MAX))


def _adj_ratio_ok(df: pd.DataFrame) -> pd.Series:
    ratio = df["adj_close"] / df["close"]
    return _no_nan_comparison(df, ["adj_close", "close"],
                              (ratio >= ADJ_RATIO_MIN) & (ratio <= ADJ_RATIO_MAX))


def _no_nan_comparison(df: pd.DataFrame, cols: list[str], ok: pd.Series) -> pd.Series:
    # A NaN price is reported by its column check; the row comparisons only judge real numbers.
    return ok | df[cols].isna().any(axis=1)


def _volume_all_or_none(df: pd.DataFrame) -> pd.Series:
    # One empty volume in a series that has volumes makes cumulative indicators (TA-Lib OBV)
    # NaN from that row on, for every later row: a series has volume everywhere or nowhere.
    empty = df["volume"].isna()
    return ~empty | empty.all()


def series_schema(*, close_only: bool, with_adj_close: bool = False) -> pa.DataFrameSchema:
    """Schema of a typed series frame (date, open, high, low, close, volume[, adj_close]).

    A close-only series (an index level such as ^VIX) must have open/high/low all empty; any
    other series must have every price, and volume on every row or on none (a series without
    volume).
    """
    if close_only:
        ohl_checks = [pa.Check(lambda s: s.isna(), name="close_only_has_ohl", ignore_na=False)]
    else:
        ohl_checks = [pa.Check(_price_ok, name="price_positive", ignore_na=False)]
    price = {c: pa.Column("float64", checks=ohl_checks, nullable=True)
             for c in ("open", "high", "low")}
    columns = {
        "date": pa.Column(
            "datetime64[ns]",
            checks=[
                pa.Check(lambda s: ~s.duplicated(), name="duplicate_date"),
                pa.Check(lambda s: (s.diff() > pd.Timedelta(0)) | (np.arange(len(s)) == 0),
                         name="date_order"),
                pa.Check(lambda s: s.dt.date <= latest_possible_date(), name="future_date"),
            ],
        ),
        **price,
        "close": pa.Column("float64", checks=[
            pa.Check(_price_ok, name="price_positive", ignore_na=False)], nullable=True),
        "volume": pa.Column("float64", checks=[
            pa.Check(lambda s: np.isfinite(s) & (s >= 0) & (s < VOLUME_MAX), name="volume_ok")],
            nullable=True),
    }
    if with_adj_close:
        columns["adj_close"] = pa.Column("float64", checks=[
            pa.Check(_price_ok, name="price_positive", ignore_na=False)], nullable=True)
    frame_checks = [pa.Check(_adj_ratio_ok, name="adj_ratio")] if with_adj_close else []
    frame_checks += [] if close_only else [
        pa.Check(_volume_all_or_none, name="volume_partial"),
        pa.Check(lambda df: _no_nan_comparison(df, ["high", "low"], df.high >= df.low),
                 name="high_below_low"),
        pa.Check(lambda df: _no_nan_comparison(
            df, ["open", "high", "close"], df.high >= df[["open", "close"]].max(axis=1)),
            name="high_bound"),
        pa.Check(lambda df: _no_nan_comparison(
            df, ["open", "low", "close"], df.low <= df[["open", "close"]].min(axis=1)),
            name="low_bound"),
    ]
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=True, ordered=False)


# -- turning pandera's failure table into one line -------------------------------------------

def _show(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "NaN/empty"
        return repr(float(value))
    if isinstance(value, pd.Timestamp | dt.date):
        return pd.Timestamp(value).date().isoformat()
    return repr(value) if isinstance(value, str) else str(value)


Reason = Callable[[pd.DataFrame, int, str, dict[str, str]], str]

_REASONS: dict[str, Reason] = {
    "date_parses": lambda f, i, c, names: (
        f"{names.get(c, c)} {f[c].iloc[i]!r} is not a date (expected exactly YYYY-MM-DD, "
        "optionally with a midnight time, or M/D/YYYY)"),
    "number_parses": lambda f, i, c, names: (
        f"{names.get(c, c)} {f[c].iloc[i]!r} is not a number"),
    "duplicate_date": lambda f, i, c, _: (
        f"date {_show(f.date.iloc[i])} appears more than once (dates must be unique)"),
    "date_order": lambda f, i, c, _: (
        f"date {_show(f.date.iloc[i])} is not after the previous row's date "
        f"{_show(f.date.iloc[i - 1])} (rows must be sorted by date, oldest first)"),
    "future_date": lambda f, i, c, _: f"date {_show(f.date.iloc[i])} is in the future",
    "price_positive": lambda f, i, c, names: (
        f"{names.get(c, c)} is {_show(f[c].iloc[i])} (prices must be finite numbers from "
        f"{PRICE_MIN:g} to {PRICE_MAX:g})"),
    "close_only_has_ohl": lambda f, i, c, names: (
        f"{names.get(c, c)} is {_show(f[c].iloc[i])} in a close-only series"),
    "volume_ok": lambda f, i, c, names: (
        f"{names.get(c, 'volume')} is {_show(f[c].iloc[i])} (volume must be a finite number "
        f">= 0 and below {VOLUME_MAX:g}, or empty)"),
    "volume_partial": lambda f, i, c, names: (
        f"{names.get('volume', 'volume')} is empty but other rows have a volume (a series needs "
        "a volume on every row or on none)"),
    "adj_ratio": lambda f, i, c, names: (
        f"{names.get('adj_close', 'adj_close')} {_show(f.adj_close.iloc[i])} is "
        f"{f.adj_close.iloc[i] / f.close.iloc[i]:.3g} times {names.get('close', 'close')} "
        f"{_show(f.close.iloc[i])} (the ratio must be within {ADJ_RATIO_MIN:g}..{ADJ_RATIO_MAX:g})"),
    "high_below_low": lambda f, i, c, _: (
        f"high {_show(f.high.iloc[i])} is below low {_show(f.low.iloc[i])}"),
    "high_bound": lambda f, i, c, _: (
        f"high {_show(f.high.iloc[i])} is below open {_show(f.open.iloc[i])} or close "
        f"{_show(f.close.iloc[i])} (high must be >= both)"),
    "low_bound": lambda f, i, c, _: (
        f"low {_show(f.low.iloc[i])} is above open {_show(f.open.iloc[i])} or close "
        f"{_show(f.close.iloc[i])} (low must be <= both)"),
}
# When one row breaks several rules, the first one in this order is the one reported.
_PRIORITY = {name: rank for rank, name in enumerate(_REASONS)}


def check(
    schema: pa.DataFrameSchema,
    frame: pd.DataFrame,
    *,
    source: str,
    row_labels: Sequence[Any],
    display_names: dict[str, str] | None = None,
) -> None:
    """Validate `frame` (positional index 0..n-1) or raise one `ValidationError`.

    `row_labels[i]` is how row i is named to users: its 1-based data row in the file, or its
    date. Column problems (missing or unexpected columns, wrong types) win over row problems;
    otherwise the earliest offending row is reported.
    """
    names = display_names or {}
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        raise _to_validation_error(exc.failure_cases, frame, source, row_labels, names) from None


def _to_validation_error(
    failures: pd.DataFrame,
    frame: pd.DataFrame,
    source: str,
    row_labels: Sequence[Any],
    names: dict[str, str],
) -> ValidationError:
    structural = failures[failures["index"].isna()]
    if len(structural):
        return ValidationError(_structural_reason(structural, names), source=source)
    rows = failures.assign(
        pos=failures["index"].astype(int),
        rank=failures["check"].map(_PRIORITY).fillna(len(_PRIORITY)),
    ).sort_values(["pos", "rank"], kind="stable")
    first = rows.iloc[0]
    pos, name, column = int(first["pos"]), str(first["check"]), first["column"]
    explain = _REASONS.get(name)
    reason = (explain(frame, pos, column, names) if explain
              else f"{names.get(column, column)}: fails check {name}")
    return ValidationError(reason, source=source, row=row_labels[pos])


def _structural_reason(structural: pd.DataFrame, names: dict[str, str]) -> str:
    expected = ", ".join(names.values())
    missing = structural.loc[structural["check"] == "column_in_dataframe", "failure_case"]
    extra = structural.loc[structural["check"] == "column_in_schema", "failure_case"]
    parts = [f"missing column {names.get(c, c)!r}" for c in missing]
    parts += [f"unexpected column {c!r}" for c in extra]
    if parts:
        return "; ".join(parts) + (f" (expected columns: {expected})" if expected else "")
    first = structural.iloc[0]
    return f"column {first['column']}: {first['check']} ({first['failure_case']})"


def calendar_gaps(dates: pd.Series, max_days: int = MAX_NORMAL_GAP_DAYS) -> list[list[Any]]:
    """[[from, to, days], ...] for consecutive dates more than `max_days` calendar days apart."""
    ordered = pd.Series(pd.to_datetime(dates).sort_values().to_numpy())
    days = ordered.diff().dt.days
    at = days[days > max_days].index
    return [
        [ordered[i - 1].date().isoformat(), ordered[i].date().isoformat(), int(days[i])]
        for i in at
    ]
