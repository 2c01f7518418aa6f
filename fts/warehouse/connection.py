"""Open the warehouse for short transactions, waiting politely while another process writes.

DuckDB lets one process hold a database file for writing. fts therefore never keeps the
warehouse open for long: each command opens it, does one transaction and closes it, and a
second process that finds it locked retries with backoff before giving up with `WarehouseBusy`.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import duckdb

from fts.core.errors import NotFoundError, WarehouseBusy, WarehouseError
from fts.warehouse.schema import create_session_views, ensure_schema
from fts.warehouse.views import sync_tier_views

LOCK_TIMEOUT_ENV = "FTS_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 30.0

T = TypeVar("T")


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _lock_timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT_S))


def _open(path: Path, read_only: bool, timeout: float | None) -> duckdb.DuckDBPyConnection:
    return retry_locked(path, lambda: duckdb.connect(str(path), read_only=read_only), timeout)


def retry_locked(path: Path, attempt: Callable[[], T], timeout: float | None) -> T:
    """Run `attempt` (an open or ATTACH of the warehouse at `path`), retrying with backoff while
    another process holds the file's lock; `WarehouseBusy` after the timeout, `WarehouseError`
    for a file DuckDB cannot use."""
    deadline = time.monotonic() + _lock_timeout(timeout)
    delay = 0.05
    while True:
        try:
            return attempt()
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise _unusable(path, exc) from exc
            if time.monotonic() >= deadline:
                raise busy_error(path, _lock_timeout(timeout), exc) from exc
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)


_HOLDER = re.compile(r"lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)", re.IGNORECASE)


def lock_holder(exc: BaseException) -> str | None:
    """"PID 123: its command line" of the process DuckDB says holds the lock, if it says."""
    found = _HOLDER.search(str(exc))
    if not found:
        return None
    pid = int(found["pid"])
    try:
        import psutil

        command = " ".join(psutil.Process(pid).cmdline()) or found["exe"]
    except Exception:  # noqa: BLE001 - gone, or not ours to inspect: DuckDB's name will do
        command = found["exe"]
    if len(command) > 80:
        command = command[:77] + "..."
    return f"PID {pid}: {command}"


def busy_error(path: Path, waited: float, exc: BaseException) -> WarehouseBusy:
    """The one-line error for a warehouse another process kept locked for `waited` seconds.

    DuckDB lets one process open a file for writing, and no other process open it at all
    meanwhile; a process holding it open read-only (a notebook's connection) blocks every
    writer just the same. The message says who and what to do.
    """
    holder = lock_holder(exc)
    who = f"another process ({holder})" if holder else "another process"
    return WarehouseBusy(
        f"{path}: {who} has the warehouse open, read-only or writing, and DuckDB lets no one "
        f"write while it does; waited {waited:.0f}s. Close that connection (a notebook or "
        f"script holding duckdb.connect / fts.connect), or set {LOCK_TIMEOUT_ENV} to wait longer"
    )


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
