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

import re
from pathlib import Path

import duckdb

from fts.warehouse.tier_files import view_source

#: The stored views fts manages read a tier's Parquet file and nothing else; the file is found
#: again in the view's SQL text (DuckDB keeps it; a view comment set in the same transaction as
#: CREATE OR REPLACE is lost, so comments cannot mark them).
_TIER_VIEW_SQL = re.compile(r"^CREATE VIEW \S+ AS SELECT \* FROM read_parquet\('((?:[^']|'')*)'\);?$")


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


def create_tier_view(con: duckdb.DuckDBPyConnection, tier: str, parquet: Path) -> None:
    """Store (or re-point) the view `tier` over the Parquet file `parquet` (absolute), or
    over every file of the folder `parquet` (a per-ticker build, `fts.warehouse.tier_files`).

    DuckDB reads the file's schema to create the view, so a missing file (deleted since its
    build: `fts audit` reports it) gets no view, and any older view of the tier is dropped
    rather than left reading another build; the next read-write open after the file is back
    creates it.
    """
    source = view_source(parquet)  # a per-ticker build's folder reads as a glob of its files
    if source is None:
        con.execute(f'DROP VIEW IF EXISTS main."{tier}"')
        return
    path = _quote(source)
    con.execute(f'CREATE OR REPLACE VIEW main."{tier}" AS SELECT * FROM read_parquet(\'{path}\')')


def stored_tier_views(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """{view name: the Parquet file it reads} of the stored tier views."""
    rows = con.execute(
        """SELECT view_name, sql FROM duckdb_views()
           WHERE database_name = current_database() AND schema_name = 'main'
             AND NOT temporary""").fetchall()
    found = {name: _TIER_VIEW_SQL.match(sql.strip()) for name, sql in rows}
    return {name: m.group(1).replace("''", "'") for name, m in found.items() if m}


def sync_tier_views(con: duckdb.DuckDBPyConnection) -> None:
    """Make the stored tier views match `meta.tier_current` at the warehouse's location now.

    Re-points views whose file moved with the project, creates missing ones (a warehouse made
    before views were stored) and drops those of tiers without a current build. Costs two
    small queries and a stat per tier when everything is current (every read-write open
    calls it).
    """
    root = database_root(con)
    wanted = {
        tier: (root / rel).resolve()
        for tier, rel in con.execute("SELECT tier, parquet_path FROM meta.tier_current").fetchall()
    }
    stored = stored_tier_views(con)
    for tier, parquet in wanted.items():
        if stored.get(tier) != view_source(parquet) or view_source(parquet) is None:
            create_tier_view(con, tier, parquet)
    for tier in stored.keys() - wanted.keys():
        if f"/data/tiers/{tier}/" in stored[tier]:  # never a view of the user's own
            con.execute(f'DROP VIEW IF EXISTS main."{tier}"')
