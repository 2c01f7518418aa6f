"""The warehouse schema is applied on a read-write open: in full on a new or older warehouse,
and skipped (one query) when the DDL recorded in it is the current one."""

from __future__ import annotations

from pathlib import Path

import duckdb

from fts.warehouse import connect
from fts.warehouse.schema import ddl_sha256


def _columns(path: Path, table: str) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    finally:
        con.close()


def _new_warehouse_then(tmp_path: Path, *statements: str) -> Path:
    """A warehouse made by fts, then changed behind its back by `statements` (plain DuckDB)."""
    path = tmp_path / "warehouse.duckdb"
    with connect(path):
        pass
    with duckdb.connect(str(path)) as con:
        for sql in statements:
            con.execute(sql)
    return path


def test_a_warehouse_made_before_a_column_existed_gets_it(tmp_path: Path) -> None:
    # Simulate an older warehouse: no DDL record, and experiments.cells without `fingerprint`.
    path = _new_warehouse_then(tmp_path, "DROP TABLE meta.schema_ddl",
                               "ALTER TABLE experiments.cells DROP COLUMN fingerprint")
    assert "fingerprint" not in _columns(path, "experiments.cells")

    with connect(path):
        pass
    assert "fingerprint" in _columns(path, "experiments.cells")
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT sha256 FROM meta.schema_ddl").fetchall() == [(ddl_sha256(),)]


def test_an_outdated_ddl_record_reapplies_the_schema(tmp_path: Path) -> None:
    path = _new_warehouse_then(tmp_path, "UPDATE meta.schema_ddl SET sha256 = 'older'",
                               "DROP VIEW raw.ohlcv")
    with connect(path) as con:
        assert con.execute("SELECT count(*) FROM raw.ohlcv").fetchall() == [(0,)]


def test_a_current_warehouse_is_not_rewritten_on_open(tmp_path: Path) -> None:
    # With the current DDL recorded, the open skips the DDL.
    path = _new_warehouse_then(tmp_path, "DROP VIEW raw.ohlcv")
    with connect(path) as con:
        views = {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'raw'").fetchall()}
    assert "ohlcv" not in views
