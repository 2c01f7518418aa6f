"""`fts sql`: read-only queries over the warehouse in table, CSV and JSON formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from tests.ingest.helpers import one_line, run_fts, snapshot

COUNTS = ("select ticker, count(*) as n, min(date) as first, max(date) as last "
          "from raw.ohlcv group by 1 order by 1")


def test_ingest_sample_then_sql_shows_both_series_as_an_aligned_table(sample_project_dir: Path):
    result = run_fts(sample_project_dir, "sql", COUNTS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "ticker     n  first       last",
        "------  ----  ----------  ----------",
        "^GSPC   5031  1999-01-04  2018-12-31",
        "^VIX    1259  2014-01-03  2019-01-03",
        "(2 rows)",
    ]


def test_csv_format_is_parseable_with_a_header(sample_project_dir: Path):
    result = run_fts(sample_project_dir, "sql", COUNTS, "--format", "csv")
    assert result.exit_code == 0
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["ticker", "n", "first", "last"],
        ["^GSPC", "5031", "1999-01-04", "2018-12-31"],
        ["^VIX", "1259", "2014-01-03", "2019-01-03"],
    ]


def test_json_format_gives_row_objects_with_iso_dates_and_nulls(sample_project_dir: Path):
    result = run_fts(sample_project_dir, "sql",
                     "select ticker, date, open, close from raw.ohlcv where ticker = '^VIX' "
                     "order by date limit 1", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"ticker": "^VIX", "date": "2014-01-03", "open": None, "close": 13.76}]


def test_write_statement_without_write_flag_fails_and_changes_nothing(sample_project_dir: Path):
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "sql", "delete from raw.ohlcv_history")
    assert result.exit_code == 1
    assert "DELETE statements modify the warehouse" in one_line(result)
    assert "--write" in one_line(result)
    assert snapshot(sample_project_dir) == before


def test_write_flag_allows_changes(sample_project_dir: Path):
    made = run_fts(sample_project_dir, "sql", "create table main.notes as select 1 as x",
                   "--write")
    assert made.exit_code == 0, made.output
    result = run_fts(sample_project_dir, "sql", "select x from main.notes", "--format", "csv")
    assert result.stdout == "x\n1\n"


def test_sql_error_is_one_line(sample_project_dir: Path):
    result = run_fts(sample_project_dir, "sql", "select nope from raw.ohlcv")
    assert result.exit_code == 1
    assert one_line(result).startswith("error: SQL error:")


def test_sql_before_any_ingest_says_how_to_create_the_warehouse(tmp_path: Path):
    result = run_fts(tmp_path, "sql", "select 1")
    assert result.exit_code == 1
    assert "no warehouse yet; run `fts ingest sample`" in one_line(result)


def test_installed_fts_command_runs_sql_as_a_subprocess(sample_project_dir: Path):
    fts = Path(sys.executable).parent / "fts"
    done = subprocess.run(
        [str(fts), "--project-dir", str(sample_project_dir), "sql",
         "select count(*) as n from raw.ohlcv", "--format", "csv"],
        capture_output=True, text=True, timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "n\n6290\n", "")
