"""Bad input is rejected by `fts ingest csv` with exit 1, ONE stderr line naming the file, the row
and the reason, and the warehouse (every table) and the manifests exactly as they were."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from tests.ingest.helpers import (
    AAPL_CSV,
    AAPL_NEXT_CSV,
    edit_rows,
    one_line,
    rows,
    run_fts,
    snapshot,
)

GOOD = AAPL_CSV.read_text()
LINES = GOOD.splitlines()


def _drop_column(name: str) -> str:
    header = LINES[0].split(",")
    i = header.index(name)
    return "\n".join(",".join(f for j, f in enumerate(line.split(",")) if j != i)
                     for line in LINES) + "\n"


def _add_column(name: str, value: str) -> str:
    return "\n".join([LINES[0] + f",{name}"] + [line + f",{value}" for line in LINES[1:]]) + "\n"


def _swap_rows(a: int, b: int) -> str:
    lines = list(LINES)
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines) + "\n"


def _truncated() -> str:
    # Cut inside data row 6, after its second field: what an interrupted download leaves.
    cut = GOOD.index(LINES[6]) + len(LINES[6].split(",")[0]) + 8
    return GOOD[:cut]


FUTURE = (dt.date.today() + dt.timedelta(days=40)).isoformat()

# (case id, file content, row the message names or None, words the reason must contain)
BAD_FILES = [
    ("missing-column", _drop_column("High"), None, "missing column 'High'"),
    ("extra-column", _add_column("Dividends", "0.0"), None, "unexpected column 'Dividends'"),
    ("unparsable-date", edit_rows(GOOD, {3: {"Date": "2024-01-0x"}}), 3, "is not a date"),
    ("out-of-range-date", edit_rows(GOOD, {1: {"Date": "0001-01-02"}}), 1,
     "Date '0001-01-02' is not a date"),
    ("duplicated-date", edit_rows(GOOD, {4: {"Date": "2024-01-04"}}), 4,
     "date 2024-01-04 appears more than once"),
    ("unsorted-rows", _swap_rows(4, 5), 5, "is not after the previous row's date 2024-01-08"),
    ("empty-file", "", None, "file is empty"),
    ("binary-file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", None, "binary file"),
    ("truncated-file", _truncated(), 6, "ends in the middle of a line"),
    ("negative-price", edit_rows(GOOD, {2: {"Low": "-183.429993"}}), 2,
     "Low is -183.429993 (prices must be finite numbers from 1e-06 to 1e+09)"),
    ("zero-price", edit_rows(GOOD, {8: {"Open": "0"}}), 8, "Open is 0.0"),
    ("high-below-low", edit_rows(GOOD, {7: {"High": "180.0"}}), 7,
     "high 180.0 is below low 183.919998"),
    ("nan-price", edit_rows(GOOD, {5: {"Close": "NaN"}}), 5, "Close is NaN"),
    ("inf-price", edit_rows(GOOD, {9: {"High": "inf"}}), 9, "High is inf"),
    ("text-in-number", edit_rows(GOOD, {2: {"Volume": "lots"}}), 2, "Volume 'lots' is not a number"),
    ("negative-volume", edit_rows(GOOD, {3: {"Volume": "-5"}}), 3, "volume must be a finite"),
    # One empty volume would make OBV NaN for every later row of the ticker.
    ("one-empty-volume", edit_rows(GOOD, {4: {"Volume": ""}}), 4,
     "Volume is empty but other rows have a volume"),
    ("date-in-the-future", edit_rows(GOOD, {10: {"Date": FUTURE}}), 10, "is in the future"),
    ("header-only", LINES[0] + "\n", None, "no data rows"),
    # -- dates: exactly YYYY-MM-DD (optionally a midnight time) or M/D/YYYY, nothing else ----
    ("date-with-sql-after-it", edit_rows(GOOD, {2: {"Date": "2024-01-03 ;DROP TABLE x"}}), 2,
     "Date '2024-01-03 ;DROP TABLE x' is not a date (expected exactly YYYY-MM-DD"),
    ("date-with-embedded-newline", edit_rows(GOOD, {3: {"Date": '"2024-01-04\nX"'}}), 3,
     "Date '2024-01-04\\nX' is not a date"),
    ("date-with-trailing-newline-in-quotes", edit_rows(GOOD, {3: {"Date": '"2024-01-04\n"'}}),
     3, "is not a date"),
    ("date-with-a-time-of-day", edit_rows(GOOD, {4: {"Date": "2024-01-05 15:30:00"}}), 4,
     "Date '2024-01-05 15:30:00' is not a date"),
    ("date-with-text-glued-on", edit_rows(GOOD, {2: {"Date": "2024-01-03abc"}}), 2,
     "is not a date"),
    ("date-with-a-tab", edit_rows(GOOD, {2: {"Date": "2024-01-03\t"}}), 2, "is not a date"),
    ("date-unpadded", edit_rows(GOOD, {2: {"Date": "2024-1-3"}}), 2, "is not a date"),
    ("date-without-dashes", edit_rows(GOOD, {2: {"Date": "20240103"}}), 2, "is not a date"),
    ("date-with-slashes-iso-order", edit_rows(GOOD, {2: {"Date": "2024/01/03"}}), 2,
     "is not a date"),
    ("date-month-13", edit_rows(GOOD, {2: {"Date": "2024-13-03"}}), 2, "is not a date"),
    ("date-february-30", edit_rows(GOOD, {2: {"Date": "2024-02-30"}}), 2, "is not a date"),
    ("date-day-first-with-dashes", edit_rows(GOOD, {2: {"Date": "03-01-2024"}}), 2,
     "is not a date"),
    ("date-year-only", edit_rows(GOOD, {2: {"Date": "2024"}}), 2, "is not a date"),
    ("date-empty", edit_rows(GOOD, {2: {"Date": ""}}), 2, "Date '' is not a date"),
    ("date-before-1677", edit_rows(GOOD, {1: {"Date": "1600-01-03"}}), 1, "is not a date"),
    ("header-repeated-as-a-row", edit_rows(GOOD, {5: {"Date": "Date"}}), 5,
     "Date 'Date' is not a date"),
    # -- prices: finite, within 1e-6 .. 1e9 -------------------------------------------------
    ("price-1e-308", edit_rows(GOOD, {2: {"Low": "1e-308"}}), 2, "Low is 1e-308 (prices must"),
    ("price-1e308", edit_rows(GOOD, {2: {"High": "1e308"}}), 2, "High is 1e+308 (prices must"),
    ("price-just-above-1e9", edit_rows(GOOD, {6: {"Close": "1.5e9", "High": "1.6e9",
                                                  "Adj Close": "1.5e9"}}), 6,
     "High is 1600000000.0 (prices must be finite numbers from 1e-06 to 1e+09)"),
    ("price-just-below-1e-6", edit_rows(GOOD, {6: {"Low": "5e-7"}}), 6, "Low is 5e-07"),
    ("price-minus-inf", edit_rows(GOOD, {3: {"Low": "-inf"}}), 3, "Low is -inf"),
    ("price-plus-infinity-word", edit_rows(GOOD, {3: {"Open": "Infinity"}}), 3, "Open is inf"),
    ("price-empty", edit_rows(GOOD, {3: {"Open": ""}}), 3, "Open is NaN/empty"),
    ("price-with-currency-sign", edit_rows(GOOD, {3: {"Close": "$184.25"}}), 3,
     "Close '$184.25' is not a number"),
    ("price-in-hex", edit_rows(GOOD, {3: {"Close": "0xB8"}}), 3, "Close '0xB8' is not a number"),
    ("price-with-thousands-comma", edit_rows(GOOD, {3: {"Volume": "58,414,500"}}), 3,
     "has 9 fields but the header has 7"),
    ("high-below-open", edit_rows(GOOD, {2: {"Open": "186.5"}}), 2,
     "high 185.880005 is below open 186.5 or close 184.25"),
    ("low-above-open", edit_rows(GOOD, {2: {"Low": "184.24"}}), 2,
     "low 184.24 is above open 184.220001 or close 184.25"),
    # -- Adj Close / Close within 1e-3 .. 1e3 ------------------------------------------------
    ("adj-close-1e300", edit_rows(GOOD, {4: {"Adj Close": "1e300"}}), 4,
     "Adj Close is 1e+300 (prices must"),
    ("adj-close-5000-times-close", edit_rows(GOOD, {4: {"Adj Close": "925000"}}), 4,
     "Adj Close 925000.0 is 5.11e+03 times Close 181.179993 (the ratio must be within "
     "0.001..1000)"),
    ("adj-close-a-millionth-of-close", edit_rows(GOOD, {4: {"Adj Close": "0.000185"}}), 4,
     "(the ratio must be within 0.001..1000)"),
    ("adj-close-negative", edit_rows(GOOD, {4: {"Adj Close": "-1"}}), 4, "Adj Close is -1.0"),
    # -- volume: finite, 0 <= v < 1e15 -----------------------------------------------------
    ("volume-1e30", edit_rows(GOOD, {5: {"Volume": "1e30"}}), 5,
     "Volume is 1e+30 (volume must be a finite number >= 0 and below 1e+15, or empty)"),
    ("volume-exactly-1e15", edit_rows(GOOD, {5: {"Volume": "1e15"}}), 5, "Volume is 1000000000000000.0"),
    ("volume-inf", edit_rows(GOOD, {5: {"Volume": "inf"}}), 5, "Volume is inf"),
    ("volume-unicode-minus", edit_rows(GOOD, {5: {"Volume": "\u22125"}}), 5, "is not a number"),
    # -- the file as a whole ------------------------------------------------------------------
    ("one-row-short-of-fields", "\n".join(LINES[:4] + [LINES[4].rsplit(",", 1)[0]]
                                          + LINES[5:]) + "\n", 4,
     "has 6 fields but the header has 7: a stray or missing comma?"),
    ("one-row-with-an-extra-field", "\n".join(LINES[:4] + [LINES[4] + ",1"] + LINES[5:]) + "\n",
     4, "has 8 fields but the header has 7"),
    ("no-header", "\n".join(LINES[1:]) + "\n", None, "missing column 'Date'"),
    ("utf-16-file", GOOD.encode("utf-16"), None, "binary file"),
    ("latin-1-byte", GOOD.replace("2024-01-03", "2024-01-0\xe9").encode("latin-1"), None,
     "not UTF-8 text"),
    ("corrupt-gzip", b"\x1f\x8b\x08\x00garbage", None, "corrupt gzip file"),
]


@pytest.mark.parametrize(("content", "row", "reason"),
                         [pytest.param(c, r, why, id=name) for name, c, r, why in BAD_FILES])
def test_bad_csv_is_rejected_with_one_line_naming_file_row_and_reason_and_changes_nothing(
    sample_project_dir: Path, tmp_path: Path, content: str | bytes, row: int | None, reason: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(sample_project_dir)

    result = run_fts(sample_project_dir, "ingest", "csv", str(bad), "--ticker", "AAPL")

    assert result.exit_code == 1, result.output
    line = one_line(result)
    assert line.startswith(f"error: {bad}")
    assert (f"row {row}:" in line) if row is not None else ("row" not in line.split(":")[1])
    assert reason in line
    assert result.stdout == ""
    assert snapshot(sample_project_dir) == before


@pytest.mark.parametrize("ticker", ["AAPL US!", "..", "^", "=", "-.-", "^^^", "A" * 16])
def test_wrong_ticker_symbol_is_rejected_and_changes_nothing(sample_project_dir: Path,
                                                             ticker: str) -> None:
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", ticker)
    assert result.exit_code == 1
    line = one_line(result)
    assert str(AAPL_CSV) in line and f"wrong ticker symbol {ticker!r}" in line
    assert snapshot(sample_project_dir) == before


def _dates(fmt: str) -> str:
    # Every date of the good file rewritten by `fmt` (a format for datetime.date).
    lines = [LINES[0]] + [
        dt.date.fromisoformat(line[:10]).strftime(fmt) + line[10:] for line in LINES[1:]]
    return "\n".join(lines) + "\n"


# (case id, file content): files that must load, and load the same rows as the good file.
GOOD_VARIANTS = [
    ("midnight-time", _dates("%Y-%m-%d 00:00:00")),
    ("midnight-time-with-zone", _dates("%Y-%m-%d 00:00:00-05:00")),
    ("midnight-iso-t-and-z", _dates("%Y-%m-%dT00:00:00Z")),
    ("midnight-without-seconds", _dates("%Y-%m-%d 00:00")),
    ("us-month-day-year", _dates("%-m/%-d/%Y")),
    ("spaces-around-dates", _dates(" %Y-%m-%d ")),
    ("crlf-line-endings", GOOD.replace("\n", "\r\n")),
    ("a-blank-line-inside", "\n".join(LINES[:5] + [""] + LINES[5:]) + "\n"),
    ("byte-order-mark", "\ufeff" + GOOD),
]


@pytest.mark.parametrize("content", [pytest.param(c, id=n) for n, c in GOOD_VARIANTS])
def test_harmless_variants_of_a_good_file_load_the_same_rows(tmp_path: Path, content: str):
    reference = tmp_path / "reference"
    assert run_fts(reference, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL").exit_code == 0
    variant = tmp_path / "variant.csv"
    variant.write_text(content, encoding="utf-8", newline="")
    result = run_fts(tmp_path / "project", "ingest", "csv", str(variant), "--ticker", "AAPL")
    assert result.exit_code == 0, result.output
    query = "select date, open, high, low, close, volume from raw.ohlcv order by date"
    stored = rows(tmp_path / "project", query)
    assert stored == rows(reference, query)
    # the dates are the file's own, independent of fts: the good file's first column
    assert [d.isoformat() for d, *_ in stored] == [line[:10] for line in LINES[1:]]


def test_bad_csv_into_a_new_project_creates_no_warehouse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(edit_rows(GOOD, {2: {"Close": "-1"}}))
    result = run_fts(tmp_path / "project", "ingest", "csv", str(bad), "--ticker", "AAPL")
    assert result.exit_code == 1
    assert not (tmp_path / "project" / "warehouse.duckdb").exists()


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_fts(tmp_path, "ingest", "csv", str(tmp_path / "nope.csv"), "--ticker", "AAPL")
    assert result.exit_code == 1
    assert "nope.csv: no such file" in one_line(result)


def test_a_series_without_any_volume_is_accepted(tmp_path: Path) -> None:
    no_volume = tmp_path / "no_volume.csv"
    no_volume.write_text(edit_rows(GOOD, {i: {"Volume": ""} for i in range(1, len(LINES))}))
    result = run_fts(tmp_path / "project", "ingest", "csv", str(no_volume), "--ticker", "AAPL")
    assert result.exit_code == 0, result.output


def test_new_rows_without_volume_cannot_be_merged_into_a_series_with_volume(
    sample_project_dir: Path, tmp_path: Path
) -> None:
    assert run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL").exit_code == 0
    lines = AAPL_NEXT_CSV.read_text().splitlines()
    no_volume = tmp_path / "next.csv"
    no_volume.write_text(edit_rows("\n".join(lines), {i: {"Volume": ""} for i in range(1, len(lines))}))
    before = snapshot(sample_project_dir)

    result = run_fts(sample_project_dir, "ingest", "csv", str(no_volume), "--ticker", "AAPL")

    assert result.exit_code == 1
    assert "AAPL, row 2024-01-12: volume is empty but other rows have a volume" in one_line(result)
    assert snapshot(sample_project_dir) == before


def test_a_file_that_is_not_a_duckdb_warehouse_is_a_one_line_error(sample_project_dir: Path) -> None:
    warehouse = sample_project_dir / "warehouse.duckdb"
    warehouse.write_bytes(Path(sys.executable).resolve().read_bytes()[:5000])

    for args in (["sql", "select 1"], ["ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL"]):
        result = run_fts(sample_project_dir, *args)
        assert result.exit_code == 1
        line = one_line(result)
        assert line.startswith(f"error: {warehouse}: cannot open the warehouse")
        assert "not a valid DuckDB database file" in line
        assert "Traceback" not in result.output


def test_an_os_error_is_a_one_line_error(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "manifests").write_text("a file where the manifests folder should be")
    result = run_fts(project, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    assert result.exit_code == 1
    line = one_line(result)
    # The publish lock (manifests/.publish.lock) is the first thing to need the folder.
    assert "manifests" in line and ("File exists" in line or "Not a directory" in line)
