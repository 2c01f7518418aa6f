"""Readers never block writers for long (issue 13, item 9): `Project.table` reads a snapshot and
holds no connection, and a writer kept out by another process's connection says who holds it
and what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from fts.core.errors import NotFoundError
from fts.project import Project
from tests.ingest.helpers import AAPL_CSV, one_line, run_fts, snapshot


def _write_from_another_process(project: Path) -> subprocess.CompletedProcess:
    """`fts sql --write` in a separate process, allowed to wait 2 s for the lock."""
    fts = Path(sys.executable).parent / "fts"
    return subprocess.run(
        [str(fts), "--project-dir", str(project), "sql", "--write",
         "create table main.note as select 1 as x"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "FTS_LOCK_TIMEOUT": "2"})


def test_a_table_kept_in_a_notebook_does_not_block_writers(built_project_dir: Path):
    project = Project(built_project_dir)
    tier = project.table("a20")
    raw = project.table("raw.ohlcv")
    trials = project.table("hpo_trials")

    done = _write_from_another_process(built_project_dir)
    assert done.returncode == 0, done.stderr

    # The expressions still work, and read what is there: the tier's Parquet and the raw rows.
    (parquet,) = (built_project_dir / "data").rglob("a20*.parquet")
    assert tier.count().execute() == pq.read_metadata(parquet).num_rows
    with duckdb.connect(str(built_project_dir / "warehouse.duckdb"), read_only=True) as con:
        (n_raw,) = con.execute("select count(*) from raw.ohlcv").fetchone()
    assert raw.count().execute() == n_raw == 6290
    assert trials.count().execute() == 0
    assert tier.columns[:2] == ("ticker", "date")


def test_an_unknown_table_is_a_clear_error(sample_project_dir: Path):
    with pytest.raises(NotFoundError, match="no table or view 'nope' in the warehouse"):
        Project(sample_project_dir).table("nope")


def test_a_writer_blocked_by_a_reader_names_the_reader_and_the_remedy(
    sample_project_dir: Path, tmp_path: Path,
):
    before = snapshot(sample_project_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, time; "
         f"con = duckdb.connect({str(sample_project_dir / 'warehouse.duckdb')!r}, "
         "read_only=True); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL",
                         env={"FTS_LOCK_TIMEOUT": "1"})
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    line = one_line(result)
    assert f"another process (PID {holder.pid}: {sys.executable} -c import duckdb" in line
    assert "has the warehouse open, read-only or writing" in line
    assert "Close that connection" in line and "FTS_LOCK_TIMEOUT" in line
    assert snapshot(sample_project_dir) == before
