"""Views stored in the warehouse, so that any DuckDB client sees what `fts sql` sees.

`duckdb.connect("warehouse.duckdb").sql("select count(*) from a100")` works with nothing but
the duckdb module: every built tier is a persistent view named after it (schema `main`) over
its current Parquet file, and `hpo_trials` / `hpo_studies` are persistent views over the
Optuna journal (their SQL: fts.hpo.views; they are part of the schema DDL, so a
change of that SQL re-creates them on the next read-write open).

Paths: a tier view reads its Parquet file by ABSOLUTE path, because DuckDB resolves a view's
relative path against the reader's working directory, which would work only from the project
directory. The files are content-addressed (the build key is in the name), so an absolute
path names exactly the build the tier pointer names. The cost: after the project directory
moves, a plain DuckDB client reads the old location until an fts command opens the warehouse
for writing (any such open re-points stale views: `sync_tier_views`). fts's own connections
are not affected: they define TEMP views over the current location on every open, which
shadow the stored ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb

#: The stored views fts manages read a tier's Parquet files and nothing else; the files are
#: found again in the view's SQL text (DuckDB keeps it; a view comment set in the same
#: transaction as CREATE OR REPLACE is lost, so comments cannot mark them).
_TIER_VIEW_SQL = re.compile(r"^CREATE VIEW \S+ AS SELECT \* FROM read_parquet\((.*)\);?$", re.DOTALL)
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def _quote(text: str) -> str:
    return text.replace("'", "''")


def database_root(con: duckdb.DuckDBPyConnection) -> Path:
    """The folder of the database file `con` is attached to (the project root)."""
    (path,) = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone() or (None,)
    if not path:
        raise ValueError("an in-memory database has no project root")
    return Path(path).resolve().parent


def tier_view_sql(files: list[Path]) -> str | None:
    """`SELECT * FROM read_parquet([...])` over a tier build's files (absolute), exactly those
    (never a glob: a build renames its files into the tier folder before its COMMIT, and a
    reader must not see them until then); None when a file is missing."""
    if not files or not all(f.is_file() for f in files):
        return None
    listed = ", ".join(f"'{_quote(f.as_posix())}'" for f in files)
    return f"SELECT * FROM read_parquet([{listed}])"


def create_tier_view(con: duckdb.DuckDBPyConnection, tier: str, files: list[Path]) -> None:
    """Store (or re-point) the view `tier` over the Parquet files `files` (absolute) of its
    current build (one file, or one per ticker: `fts.warehouse.tier_files`).

    DuckDB reads the files' schema to create the view, so a missing file (deleted since its
    build: `fts audit` reports it) gets no view, and any older view of the tier is dropped
    rather than left reading another build; the next read-write open after the file is back
    creates it.
    """
    sql = tier_view_sql(files)
    if sql is None:
        con.execute(f'DROP VIEW IF EXISTS main."{tier}"')
        return
    con.execute(f'CREATE OR REPLACE VIEW main."{tier}" AS {sql}')


def stored_tier_views(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """{view name: the Parquet files it reads} of the stored tier views."""
    rows = con.execute(
        """SELECT view_name, sql FROM duckdb_views()
           WHERE database_name = current_database() AND schema_name = 'main'
             AND NOT temporary""").fetchall()
    found = {name: _TIER_VIEW_SQL.match(sql.strip()) for name, sql in rows}
    return {name: [q.replace("''", "'") for q in _QUOTED.findall(m.group(1))]
            for name, m in found.items() if m}


def current_tier_files(con: duckdb.DuckDBPyConnection, root: Path) -> dict[str, list[Path]]:
    """{tier: the files of its current build} (absolute, under `root`), from
    `meta.tier_current` and the build's manifest."""
    rows = con.execute(
        """SELECT c.tier, c.parquet_path, m.body FROM meta.tier_current c
           LEFT JOIN meta.manifests m ON m.id = c.manifest_id ORDER BY c.tier""").fetchall()
    return {tier: [(root / f).resolve() for f in build_files(rel, body)]
            for tier, rel, body in rows}


def build_files(parquet_path: str, body: str | None) -> list[str]:
    """The files (relative) of a tier build: its per-ticker outputs, or its one file."""
    manifest = json.loads(body) if body is not None else {}
    if manifest.get("layout") == "per_ticker":
        return [str(o["path"]) for o in manifest["outputs"]]
    return [parquet_path]


def sync_tier_views(con: duckdb.DuckDBPyConnection) -> None:
    """Make the stored tier views match `meta.tier_current` at the warehouse's location now.

    Re-points views whose files moved with the project, creates missing ones (a warehouse
    made before views were stored) and drops those of tiers without a current build. Costs
    three small queries and a stat per file when everything is current (every read-write open
    calls it).
    """
    wanted = current_tier_files(con, database_root(con))
    stored = stored_tier_views(con)
    for tier, files in wanted.items():
        paths = [f.as_posix() for f in files]
        if stored.get(tier) != paths or not all(f.is_file() for f in files):
            create_tier_view(con, tier, files)
    for tier in stored.keys() - wanted.keys():
        if any(f"/data/tiers/{tier}/" in f for f in stored[tier]):  # never a view of the user's own
            con.execute(f'DROP VIEW IF EXISTS main."{tier}"')
