"""Read-only `fts sql` is sandboxed: only reads run, nothing outside the project is touched, and
`--output` exports what a query reads (issue 13, item 1)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.ingest.helpers import one_line, run_fts, snapshot


def _warehouse_still_opens(project: Path) -> None:
    result = run_fts(project, "sql", "select count(*) as n from raw.ohlcv", "--format", "csv")
    assert (result.exit_code, result.stdout) == (0, "n\n6290\n"), result.output


def test_log_query_path_onto_the_warehouse_is_refused_and_the_warehouse_still_opens(
    sample_project_dir: Path,
):
    # The attack from issue 13: it used to exit 0 and leave "not a valid DuckDB database file".
    warehouse = sample_project_dir / "warehouse.duckdb"
    before = warehouse.read_bytes()
    result = run_fts(sample_project_dir, "sql", f"SET log_query_path='{warehouse}'; select 1")
    assert result.exit_code == 1
    assert one_line(result) == (
        "error: sql: SET statements are not run by read-only `fts sql`, which runs only "
        "SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE, PIVOT; pass --write to run them")
    assert warehouse.read_bytes() == before
    _warehouse_still_opens(sample_project_dir)


@pytest.mark.parametrize("statement", [
    "SET threads = 1",
    "RESET threads",
    "PRAGMA threads = 1",
    "PRAGMA version",
    "CALL pragma_version()",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '{project}/other.duckdb' AS other",
    "DETACH warehouse",
    "COPY (select 1) TO '{project}/copied.csv'",
    "EXPORT DATABASE '{project}/exported'",
    "CHECKPOINT",
    "USE memory",
    "BEGIN TRANSACTION",
    "CREATE TEMP TABLE t AS SELECT 1",
    "PREPARE p AS SELECT 1",
    "EXPLAIN ANALYZE COPY (select 1) TO '{project}/explained.csv'",
    "EXPLAIN (ANALYZE, FORMAT json) /* a comment */ INSERT INTO raw.loads SELECT * FROM raw.loads",
    "EXPLAIN ANALYZE (FORMAT json) DELETE FROM raw.loads",
    "select 1; SET log_query_path='{project}/warehouse.duckdb'",
])
def test_statements_that_do_more_than_read_are_refused_in_one_line(
    sample_project_dir: Path, statement: str,
):
    before = snapshot(sample_project_dir)
    files = sorted(sample_project_dir.rglob("*"))
    result = run_fts(sample_project_dir, "sql", statement.format(project=sample_project_dir))
    assert result.exit_code == 1
    line = one_line(result)
    assert line.startswith("error: sql: ") and line.endswith("; pass --write to run them")
    assert snapshot(sample_project_dir) == before
    assert sorted(sample_project_dir.rglob("*")) == files


def test_a_file_outside_the_project_cannot_be_read(sample_project_dir: Path, tmp_path: Path):
    secret = tmp_path / "outside.csv"
    secret.write_text("a,b\n1,2\n")
    for reader in ("read_csv", "read_text", "read_blob"):
        result = run_fts(sample_project_dir, "sql", f"select * from {reader}('{secret}')")
        assert result.exit_code == 1
        assert "Permission Error" in one_line(result)
    # ... nor through a relative path climbing out of the project
    up = f"{sample_project_dir}/../outside.csv"
    result = run_fts(sample_project_dir, "sql", f"select * from read_csv('{up}')")
    assert result.exit_code == 1 and "Permission Error" in one_line(result)


def test_a_file_inside_the_project_can_be_read(sample_project_dir: Path):
    (sample_project_dir / "notes.csv").write_text("a,b\n1,2\n")
    result = run_fts(sample_project_dir, "sql",
                     f"select a + b as s from read_csv('{sample_project_dir}/notes.csv')",
                     "--format", "csv")
    assert (result.exit_code, result.stdout) == (0, "s\n3\n"), result.output


def test_reads_of_every_kind_run(built_project_dir: Path):
    queries = {
        "with t as (select 2 as x) select x from t": "x\n2\n",
        "select count(*) as n from a20 where ticker = '^GSPC'": None,
        "select count(*) as n from raw.ohlcv": "n\n6290\n",
        "from raw.ohlcv select count(*) as n where ticker = '^VIX'": "n\n1259\n",
        "pivot (select ticker, 1 as one from raw.ohlcv) on ticker using sum(one)":
            "^GSPC,^VIX\n5031,1259\n",
        "explain select * from a50": None,
        "explain analyze select count(*) from raw.ohlcv": None,
        "describe raw.ohlcv": None,
        "show tables": None,
        "summarize select close from raw.ohlcv": None,
        "select count(*) as n from hpo_trials": "n\n0\n",
    }
    for query, expected in queries.items():
        result = run_fts(built_project_dir, "sql", query, "--format", "csv")
        assert result.exit_code == 0, (query, result.output)
        if expected is not None:
            assert result.stdout == expected, query
    # the tier view reads the tier's Parquet under data/: it must agree with the file itself
    view = run_fts(built_project_dir, "sql", "select count(*) as n from a20", "--format", "csv")
    (parquet,) = (built_project_dir / "data").rglob("a20*.parquet")
    assert view.stdout == f"n\n{pq.read_metadata(parquet).num_rows}\n"


def test_write_flag_keeps_full_power(sample_project_dir: Path, tmp_path: Path):
    target = tmp_path / "copied.csv"
    result = run_fts(sample_project_dir, "sql", f"COPY (select 7 as x) TO '{target}'", "--write")
    assert result.exit_code == 0, result.output
    assert target.read_text().split() == ["x", "7"]


QUERY = "select ticker, date, close from raw.ohlcv where ticker = '^VIX' order by date limit 3"


def test_output_writes_csv_json_and_parquet_by_extension(sample_project_dir: Path,
                                                         tmp_path: Path):
    with duckdb.connect(str(sample_project_dir / "warehouse.duckdb"), read_only=True) as con:
        reference = con.sql(QUERY).fetchall()
    for ext in ("csv", "json", "parquet"):
        out = tmp_path / "exports" / f"vix.{ext}"
        result = run_fts(sample_project_dir, "sql", QUERY, "--output", str(out))
        assert result.exit_code == 0, result.output
        assert result.stdout == f"wrote 3 rows to {out}\n"
        if ext == "csv":
            rows = list(csv.reader(io.StringIO(out.read_text())))
            assert rows[0] == ["ticker", "date", "close"]
            assert [(t, d, float(c)) for t, d, c in rows[1:]] == [
                (t, d.isoformat(), c) for t, d, c in reference]
        elif ext == "json":
            assert [tuple(r.values()) for r in json.loads(out.read_text())] == [
                (t, d.isoformat(), c) for t, d, c in reference]
        else:
            table = pq.read_table(out)
            assert table.column_names == ["ticker", "date", "close"]
            assert list(zip(*(table.column(n).to_pylist() for n in table.column_names),
                            strict=True)) == reference
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        "vix.csv", "vix.json", "vix.parquet"]  # no temporary files left behind


def test_output_needs_no_write_lock(sample_project_dir: Path, tmp_path: Path):
    # Another process holds the warehouse read-only (a notebook): a writer would have to wait,
    # an export does not.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; "
         f"con = duckdb.connect({str(sample_project_dir / 'warehouse.duckdb')!r}, read_only=True); "
         "print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        out = tmp_path / "n.csv"
        result = run_fts(sample_project_dir, "sql", "select count(*) as n from raw.ohlcv",
                         "--output", str(out), env={"FTS_LOCK_TIMEOUT": "0"})
        assert result.exit_code == 0, result.output
        assert out.read_text() == "n\n6290\n"
    finally:
        holder.kill()
        holder.wait()


def test_output_with_an_unknown_extension_is_refused_before_running(sample_project_dir: Path,
                                                                    tmp_path: Path):
    out = tmp_path / "result.xlsx"
    result = run_fts(sample_project_dir, "sql", "select 1", "--output", str(out))
    assert result.exit_code == 1
    assert one_line(result) == (f"error: --output {out}: unknown extension .xlsx; use .csv, "
                                ".json or .parquet")
    assert not out.exists()


def test_a_failed_export_leaves_the_old_file(sample_project_dir: Path, tmp_path: Path):
    out = tmp_path / "keep.csv"
    out.write_text("old\n")
    result = run_fts(sample_project_dir, "sql", "select nope", "--output", str(out))
    assert result.exit_code == 1
    assert out.read_text() == "old\n"


# -- the second layer alone: the connection refuses what a missed statement would try --------

@pytest.mark.parametrize("statement", [
    "SET log_query_path = '{project}/warehouse.duckdb'",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "RESET lock_configuration",
    "PRAGMA threads = 1",
    "INSTALL httpfs",
    "LOAD httpfs",
    "COPY (select 1) TO '{outside}/copied.csv'",
    "ATTACH '{outside}/other.duckdb' AS other",
    "SELECT * FROM read_csv('{outside}/secret.csv')",
    "SELECT * FROM glob('{outside}/*')",
    "INSERT INTO raw.loads SELECT * FROM raw.loads",
])
def test_the_sandboxed_connection_itself_refuses_what_the_filter_would_stop(
    sample_project_dir: Path, tmp_path: Path, statement: str,
):
    from fts.warehouse.sandbox import connect_sandboxed

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("a\n1\n")
    before = snapshot(sample_project_dir)
    warehouse = sample_project_dir / "warehouse.duckdb"
    with connect_sandboxed(warehouse, sample_project_dir) as con, pytest.raises(duckdb.Error):
        con.execute(statement.format(project=sample_project_dir, outside=outside))
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]
    assert snapshot(sample_project_dir) == before
    _warehouse_still_opens(sample_project_dir)


def test_the_sandbox_does_not_leak_into_other_connections_of_the_process(
    sample_project_dir: Path, tmp_path: Path,
):
    from fts.warehouse.sandbox import connect_sandboxed

    with connect_sandboxed(sample_project_dir / "warehouse.duckdb", sample_project_dir) as con:
        con.execute("select 1").fetchall()
    (tmp_path / "x.csv").write_text("a\n1\n")
    with duckdb.connect(str(sample_project_dir / "warehouse.duckdb"), read_only=True) as other:
        assert other.execute(f"select a from read_csv('{tmp_path}/x.csv')").fetchall() == [(1,)]
        other.execute("SET threads = 1")
