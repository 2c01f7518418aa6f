"""Open the warehouse for short transactions, waiting politely while another process writes.

DuckDB lets one process hold a database file for writing. fts therefore never keeps the
warehouse open for long: each command opens it, does one transaction and closes it, and a
second process that finds it locked retries with backoff before giving up with `WarehouseBusy`.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from fts.core.errors import NotFoundError, WarehouseBusy, WarehouseError
from fts.warehouse.schema import create_session_views, ensure_schema
from fts.warehouse.views import sync_tier_views

LOCK_TIMEOUT_ENV = "FTS_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 30.0


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _lock_timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT_S))


def _open(path: Path, read_only: bool, timeout: float | None) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + _lock_timeout(timeout)
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise _unusable(path, exc) from exc
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"{path}: another process is writing the warehouse; waited "
                    f"{_lock_timeout(timeout):.0f}s (set {LOCK_TIMEOUT_ENV} to wait longer)"
                ) from exc
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)


def _unusable(path: Path, exc: duckdb.Error) -> WarehouseError:
    # DuckDB's text names the file again ("IO Error: The file "..." exists, but it is not a
    # valid DuckDB database file!"); keep its gist on one line after our own prefix.
    detail = " ".join(str(exc).split()).removeprefix("IO Error: ")
    return WarehouseError(
        f"{path}: cannot open the warehouse ({detail}); restore it from a backup or move it "
        "away to start a new one"
    )


@contextlib.contextmanager
def connect(
    warehouse: str | Path,
    *,
    read_only: bool = False,
    timeout: float | None = None,
    project_root: str | Path | None = None,
    session_views: bool = True,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, yield a connection with the session views defined, then close it.

    A read-write open creates the file and the schema on first use. A read-only open of a
    warehouse that does not exist yet is an error naming the command that creates it.
    `project_root` resolves the relative Parquet paths of tier views (default: the file's folder).
    `session_views=False` skips the per-tier and `hpo_*` views, for internal work that reads
    only the stored tables (it saves a few milliseconds per open).
    """
    path = Path(warehouse)
    if read_only and not path.exists():
        raise NotFoundError(f"{path}: no warehouse yet; run `fts ingest sample` (or csv/yfinance)")
    con = _open(path, read_only, timeout)
    try:
        if not read_only:
            ensure_schema(con)
            sync_tier_views(con)  # re-points the stored views after the project has moved
        if session_views:
            create_session_views(con, Path(project_root) if project_root else path.parent)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, rolling back on any exception so that a failed write changes nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
