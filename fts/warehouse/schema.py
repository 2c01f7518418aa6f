"""The warehouse schema, created idempotently on every read-write open.

Schemas:
- `raw`: append-only loads (`raw.loads`, `raw.ohlcv_history`) and the view `raw.ohlcv`, which
  shows each ticker's latest load (the contract table `raw.ohlcv(ticker, date, open, high, low,
  close, volume)`).
- `meta`: the manifest registry and the pointer from each tier to its current build.
- `hpo`: `hpo.journal`, the Optuna journal of every hyper-parameter study (see fts.hpo.journal).
Views named after each built tier, and `hpo_trials` / `hpo_studies` (which replay `hpo.journal`
in SQL: fts.hpo.views, registered through fts.warehouse.view_sources), exist twice: stored in the warehouse for any DuckDB client
(fts.warehouse.views), and as TEMP session views made on every fts open, which shadow the stored
ones so that fts always reads the current build at the project's current location.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import duckdb

from fts.warehouse.view_sources import view_sources
from fts.warehouse.views import current_tier_files, tier_view_sql

SCHEMA_VERSION = 1

BASE_DDL = [
    "CREATE SCHEMA IF NOT EXISTS raw",
    "CREATE SCHEMA IF NOT EXISTS meta",
    """CREATE TABLE IF NOT EXISTS meta.schema_version (version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta.manifests (
        id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        version VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        body JSON NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS meta.tier_current (
        tier VARCHAR PRIMARY KEY,
        manifest_id VARCHAR NOT NULL,
        parquet_path VARCHAR NOT NULL,
        built_at TIMESTAMP NOT NULL
    )""",
    # File-level SHA-256 of every artefact file. Kept beside the manifests, not in them, because a
    # tier's Parquet footer carries its manifest id (the manifest pins the content hash instead).
    # Content-addressed files (checkpoints) can belong to several manifests: key on both.
    """CREATE TABLE IF NOT EXISTS meta.artifacts (
        path VARCHAR NOT NULL,
        manifest_id VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        bytes BIGINT NOT NULL,
        written_at TIMESTAMP NOT NULL,
        PRIMARY KEY (path, manifest_id)
    )""",
    # One row per load: a load holds the complete series of one ticker as of that load.
    """CREATE TABLE IF NOT EXISTS raw.loads (
        load_id VARCHAR PRIMARY KEY,
        seq BIGINT NOT NULL UNIQUE,
        ticker VARCHAR NOT NULL,
        source_kind VARCHAR NOT NULL,
        loaded_at TIMESTAMP NOT NULL,
        row_count BIGINT NOT NULL,
        first_date DATE,
        last_date DATE,
        content_sha256 VARCHAR NOT NULL,
        rows_added BIGINT NOT NULL,
        rows_changed BIGINT NOT NULL,
        close_only BOOLEAN NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS raw.ohlcv_history (
        load_id VARCHAR NOT NULL,
        ticker VARCHAR NOT NULL,
        date DATE NOT NULL,
        open DOUBLE,
        high DOUBLE,
        low DOUBLE,
        close DOUBLE NOT NULL,
        volume DOUBLE,
        PRIMARY KEY (load_id, date)
    )""",
    "CREATE SCHEMA IF NOT EXISTS train",
    # One row per training run (a single `fts train`, an HPO trial or a final seeded run).
    """CREATE TABLE IF NOT EXISTS train.runs (
        run_id VARCHAR PRIMARY KEY,
        created_at TIMESTAMP NOT NULL,
        tier VARCHAR NOT NULL,
        dataset_id VARCHAR NOT NULL,
        horizon INTEGER NOT NULL,
        threshold_pct DOUBLE NOT NULL,
        budget VARCHAR,
        n_params BIGINT NOT NULL,
        seed INTEGER NOT NULL,
        config JSON NOT NULL,
        val_metrics JSON NOT NULL,
        test_metrics JSON,
        best_epoch INTEGER NOT NULL,
        epochs_run INTEGER NOT NULL,
        seconds DOUBLE NOT NULL,
        device VARCHAR NOT NULL,
        checkpoint_path VARCHAR NOT NULL,
        checkpoint_sha256 VARCHAR NOT NULL,
        purpose VARCHAR NOT NULL,
        study VARCHAR,
        trial_number INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS train.epochs (
        run_id VARCHAR NOT NULL,
        epoch INTEGER NOT NULL,
        train_loss DOUBLE NOT NULL,
        val_loss DOUBLE NOT NULL,
        lr DOUBLE NOT NULL,
        PRIMARY KEY (run_id, epoch)
    )""",
    # Per-sample probabilities of a run on its validation and (once) test split, so that every
    # reported metric, interval and comparison can be recomputed from stored results.
    """CREATE TABLE IF NOT EXISTS train.predictions (
        run_id VARCHAR NOT NULL,
        split VARCHAR NOT NULL,
        date DATE NOT NULL,
        ticker VARCHAR NOT NULL,
        label TINYINT NOT NULL,
        prob DOUBLE NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS train.test_evaluations (
        run_id VARCHAR NOT NULL,
        evaluated_at TIMESTAMP NOT NULL,
        forced BOOLEAN NOT NULL,
        metrics JSON NOT NULL
    )""",
    "CREATE SCHEMA IF NOT EXISTS hpo",
    # Optuna's journal, one row per operation. `seq` is Optuna's 0-based log number (gap-free,
    # appended under the file's write lock); `writer_*` identify the process that appended the
    # row, so that a RUNNING trial whose process died can be told from a live one.
    """CREATE TABLE IF NOT EXISTS hpo.journal (
        seq BIGINT PRIMARY KEY,
        op_code INTEGER NOT NULL,
        log JSON NOT NULL,
        written_at TIMESTAMP NOT NULL,
        writer_host VARCHAR,
        writer_pid INTEGER,
        writer_started DOUBLE
    )""",
    # The last sign of life of each RUNNING trial's worker (fts.hpo.stale.heartbeat), keyed by
    # Optuna's trial id: a trial not heard from for HEARTBEAT_GRACE_S is shown stale.
    """CREATE TABLE IF NOT EXISTS hpo.heartbeats (
        trial_id BIGINT PRIMARY KEY,
        beat_at TIMESTAMP NOT NULL,
        writer_host VARCHAR,
        writer_pid INTEGER
    )""",
    "CREATE SCHEMA IF NOT EXISTS experiments",
    # A cell of a declared matrix is done once its study, final runs and baselines are stored.
    # `settings` is the cell's full resolved spec and `fingerprint` its hash, so that a resumed
    # run can tell a finished cell from one whose settings have changed since (NULL: a row
    # written before they were recorded).
    """CREATE TABLE IF NOT EXISTS experiments.cells (
        experiment VARCHAR NOT NULL,
        cell VARCHAR NOT NULL,
        tier VARCHAR NOT NULL,
        budget VARCHAR NOT NULL,
        horizon INTEGER NOT NULL,
        threshold_pct DOUBLE NOT NULL,
        study VARCHAR NOT NULL,
        dataset_id VARCHAR NOT NULL,
        best_trial INTEGER NOT NULL,
        final_run_ids JSON NOT NULL,
        finished_at TIMESTAMP NOT NULL,
        settings JSON,
        fingerprint VARCHAR,
        PRIMARY KEY (experiment, cell)
    )""",
    # Warehouses made before the columns existed get them added (idempotent).
    "ALTER TABLE experiments.cells ADD COLUMN IF NOT EXISTS settings JSON",
    "ALTER TABLE experiments.cells ADD COLUMN IF NOT EXISTS fingerprint VARCHAR",
    """CREATE TABLE IF NOT EXISTS experiments.baselines (
        baseline_id VARCHAR PRIMARY KEY,
        experiment VARCHAR NOT NULL,
        tier VARCHAR NOT NULL,
        horizon INTEGER NOT NULL,
        threshold_pct DOUBLE NOT NULL,
        dataset_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        n_params BIGINT NOT NULL,
        val_metrics JSON NOT NULL,
        test_metrics JSON NOT NULL,
        created_at TIMESTAMP NOT NULL
    )""",
    """CREATE OR REPLACE VIEW raw.latest_loads AS
        SELECT * FROM raw.loads
        QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY seq DESC) = 1""",
    """CREATE OR REPLACE VIEW raw.ohlcv AS
        SELECT h.ticker, h.date, h.open, h.high, h.low, h.close, h.volume
        FROM raw.ohlcv_history h
        JOIN raw.latest_loads l USING (load_id)""",
]


@functools.cache
def ddl() -> tuple[str, ...]:
    """Every schema statement: the tables above, then the views registered from the layers
    above (`hpo_trials` / `hpo_studies`, stored for DuckDB clients other than fts, which defines
    TEMP views of the same name on each open; those shadow these). The tier views are stored by
    set_current_tier (fts.warehouse.views)."""
    return (*BASE_DDL, *(stmt for source in view_sources() for stmt in source.stored()))


@functools.cache
def ddl_sha256() -> str:
    """The hash of `ddl()`. The DDL last applied is recorded by it, so that an open of an
    up-to-date warehouse costs one query instead of re-running every statement."""
    return hashlib.sha256("\n;\n".join(ddl()).encode("utf-8")).hexdigest()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every schema object that is missing (idempotent, in one transaction)."""
    try:
        applied = con.execute("SELECT sha256 FROM meta.schema_ddl").fetchall()
    except duckdb.CatalogException:  # a new warehouse, or one made before meta.schema_ddl
        applied = []
    if applied == [(ddl_sha256(),)]:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for stmt in ddl():
            con.execute(stmt)
        if not con.execute("SELECT count(*) FROM meta.schema_version").fetchall()[0][0]:
            con.execute("INSERT INTO meta.schema_version VALUES (?)", [SCHEMA_VERSION])
        con.execute("CREATE TABLE IF NOT EXISTS meta.schema_ddl (sha256 VARCHAR NOT NULL)")
        con.execute("DELETE FROM meta.schema_ddl")
        con.execute("INSERT INTO meta.schema_ddl VALUES (?)", [ddl_sha256()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(row and row[0][0])


def create_session_views(con: duckdb.DuckDBPyConnection, project_root: Path) -> None:
    """Define a temporary view per built tier (`a100` -> its current Parquet file), and the
    `hpo_trials` / `hpo_studies` views over the Optuna journal.

    Temporary views work on read-only connections and always point at the current build,
    wherever the project directory has moved.
    """
    for source in view_sources():
        source.session(con)
    if not _table_exists(con, "meta", "tier_current"):
        return
    for tier, files in current_tier_files(con, project_root).items():
        sql = tier_view_sql(files)  # one file, or a per-ticker build's files
        if sql is None:
            continue  # a deleted build: `fts audit` reports it; the rest stays usable
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{tier}" AS {sql}')
