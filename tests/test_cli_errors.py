"""Every failure a user can meet is one line on stderr and exit status 1, with the warehouse and
the manifests as they were (issue 13, item 5): the CSV field limit, DuckDB out of memory, a full
disk, and any other DuckDB error. Each is raised for real or injected with its real type."""

from __future__ import annotations

import csv
import errno
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

import fts.warehouse.connection as connection
from tests.ingest.helpers import AAPL_CSV, one_line, run_fts, snapshot


def test_a_stray_quote_in_a_5000_row_csv_is_one_line_naming_the_row(
    sample_project_dir: Path, tmp_path: Path,
):
    # The quote opens a field that runs on past the csv module's 131,072-character limit.
    rows = ["Date,Open,High,Low,Close,Volume"] + [
        f"{2000 + i // 300}-{i // 25 % 12 + 1:02d}-{i % 25 + 1:02d},101.25,102.5,100.75,101.5,"
        "1234567" for i in range(5000)]
    rows[10] = rows[10].replace(",101.25", ',"101.25', 1)
    bad = tmp_path / "quote.csv"
    bad.write_text("\n".join(rows) + "\n")
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "ingest", "csv", str(bad), "--ticker", "Q")
    assert result.exit_code == 1
    assert one_line(result) == (
        f"error: {bad}, row 10: unreadable CSV from this row on (field larger than field limit "
        "(131072)): an unbalanced '\"'?")
    assert snapshot(sample_project_dir) == before


class _FailingConnection:
    """A DuckDB connection that raises `error` when a statement mentions `target`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, target: str, error: Exception):
        self._con, self._target, self._error = con, target, error

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if self._target in query:
            raise self._error
        return self._con.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _inject(monkeypatch: pytest.MonkeyPatch, target: str, error: Exception) -> None:
    real_open = connection._open

    def failing_open(path: Path, read_only: bool, timeout: float | None) -> Any:
        return _FailingConnection(real_open(path, read_only, timeout), target, error)

    monkeypatch.setattr(connection, "_open", failing_open)


OOM = duckdb.OutOfMemoryException(
    "Out of Memory Error: failed to allocate data of size 16.0 MiB (1.9 GiB/2.0 GiB used)\n\n"
    "Possible solutions:\n* Reducing the number of threads (SET threads=X)")
DISK_FULL = duckdb.IOException(
    'IO Error: Could not write file "warehouse.duckdb.wal": No space left on device')
CATALOG = duckdb.CatalogException("Catalog Error: Table with name ohlcv_history does not exist!")


@pytest.mark.parametrize(("error", "expected"), [
    pytest.param(OOM, "error: DuckDB ran out of memory (Out of Memory Error: failed to allocate "
                 "data of size 16.0 MiB (1.9 GiB/2.0 GiB used) Possible solutions: * Reducing the "
                 "number of threads (SET threads=X)); close other programs, or lower the work "
                 "(fewer tickers, smaller batches) and run it again", id="out-of-memory"),
    pytest.param(DISK_FULL, "error: no space left on device (DuckDB: IO Error: Could not write "
                 'file "warehouse.duckdb.wal": No space left on device); free some space and run '
                 "it again", id="disk-full"),
    pytest.param(CATALOG, "error: DuckDB: Catalog Error: Table with name ohlcv_history does not "
                 "exist!", id="any-duckdb-error"),
])
def test_a_duckdb_error_inside_the_load_transaction_is_one_line_and_changes_nothing(
    sample_project_dir: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str,
):
    before = snapshot(sample_project_dir)
    _inject(monkeypatch, "INSERT INTO raw.ohlcv_history", error)
    result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    monkeypatch.undo()
    assert result.exit_code == 1
    assert one_line(result) == expected
    assert snapshot(sample_project_dir) == before


def test_a_full_disk_writing_the_manifest_is_one_line_and_changes_nothing(
    sample_project_dir: Path, monkeypatch: pytest.MonkeyPatch,
):
    before = snapshot(sample_project_dir)

    def full(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(os, "replace", full)
    result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    monkeypatch.undo()
    assert result.exit_code == 1
    line = one_line(result)
    assert line.startswith("error: no space left on device writing ")
    assert line.endswith("; free some space and run it again")
    assert snapshot(sample_project_dir) == before


def test_duckdb_really_running_out_of_memory_is_one_line(sample_project_dir: Path):
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "sql", "--write",
                     "SET memory_limit = '1MB'; SELECT list(range) FROM range(10000000)")
    assert result.exit_code == 1
    assert one_line(result).startswith("error: ")
    assert "Out of Memory Error" in one_line(result)
    assert snapshot(sample_project_dir) == before


def test_a_raw_csv_error_from_anywhere_is_one_line(sample_project_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    import fts.project

    def broken(*_: Any, **__: Any) -> None:
        raise csv.Error("field larger than field limit (131072)")

    monkeypatch.setattr(fts.project.Project, "ingest_csv", broken)
    result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    assert result.exit_code == 1
    assert one_line(result) == "error: CSV: field larger than field limit (131072)"


def test_a_bug_still_shows_its_traceback(sample_project_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch):
    import fts.project

    def broken(*_: Any, **__: Any) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(fts.project.Project, "ingest_csv", broken)
    result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    assert isinstance(result.exception, KeyError)
