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
     "Low is -183.429993 (prices must be finite numbers > 0)"),
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


def test_wrong_ticker_symbol_is_rejected_and_changes_nothing(sample_project_dir: Path) -> None:
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL US!")
    assert result.exit_code == 1
    line = one_line(result)
    assert str(AAPL_CSV) in line and "wrong ticker symbol 'AAPL US!'" in line
    assert snapshot(sample_project_dir) == before


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
    assert "Not a directory" in one_line(result)
