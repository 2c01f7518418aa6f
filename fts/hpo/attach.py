"""Brief access to the warehouse file from one long-lived, in-memory DuckDB per process.

Opening DuckDB costs ~15 ms of CPU before it reads a byte (it registers thousands of built-in
functions), and closing a written database checkpoints it (~20 ms of writes and fsyncs). The
journal is touched a dozen times per trial, so instead each call ATTACHes the file to a
per-process in-memory database (~1 ms), does its work and DETACHes it, which releases DuckDB's
file lock exactly like closing a connection does: between calls other processes (`fts sql`,
other searches) can open the warehouse.

Checkpoints: DETACH does not checkpoint here; a write checkpoints once the write-ahead log
exceeds `WAL_CHECKPOINT_BYTES`, because every later open replays the log (cost grows with it).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from fts.warehouse.connection import DEFAULT_LOCK_TIMEOUT_S, LOCK_TIMEOUT_ENV, busy_error

ALIAS = "fts_hpo_wh"
WAL_CHECKPOINT_BYTES = 8 * 1024

# The in-memory database of this process. DuckDB connections are not safe for concurrent use,
# so every access holds _LOCK; a forked child makes its own (DuckDB does not survive fork).
_LOCK = threading.RLock()
_con: duckdb.DuckDBPyConnection | None = None
_con_pid: int | None = None


def _instance() -> duckdb.DuckDBPyConnection:
    global _con, _con_pid
    if _con is None or _con_pid != os.getpid():
        _con = duckdb.connect(":memory:", config={"checkpoint_on_detach": "DISABLED"})
        _con_pid = os.getpid()
    return _con


def _is_busy(exc: Exception) -> bool:
    text = str(exc).lower()
    # Another process holds the file lock, or another DuckDB instance of this process (say an
    # `fts.warehouse.connect` in another thread) has the file open: both go away by themselves.
    lock_held = "lock" in text and ("conflicting" in text or "could not set" in text)
    return lock_held or "file handle conflict" in text


def _attach(con: duckdb.DuckDBPyConnection, path: Path, read_only: bool, timeout: float | None):
    limit = timeout if timeout is not None else float(
        os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT_S))
    deadline = time.monotonic() + limit
    quoted = str(path).replace("'", "''")
    sql = f"ATTACH '{quoted}' AS {ALIAS}" + (" (READ_ONLY)" if read_only else "")
    delay = 0.01
    while True:
        try:
            con.execute(sql)
            return
        except duckdb.Error as exc:
            if not _is_busy(exc):
                raise
            if time.monotonic() >= deadline:
                raise busy_error(path, limit, exc) from exc
        # Jittered backoff capped at 50 ms: journal calls by other processes take milliseconds,
        # and a waiter that backed off further kept missing the short free windows between
        # another worker's calls (it could get no trial in for seconds).
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.05)


@contextlib.contextmanager
def attached(
    path: Path, *, read_only: bool, timeout: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection on which the warehouse is attached as `ALIAS`, for one short call.

    The file must exist. Waits (with backoff) while another process holds the write lock and
    raises `WarehouseBusy` after FTS_LOCK_TIMEOUT seconds. A transaction left open by the
    caller is rolled back.
    """
    with _LOCK:
        con = _instance()
        con.execute(f"DETACH DATABASE IF EXISTS {ALIAS}")  # left by an interrupted call
        _attach(con, path, read_only, timeout)
        ok = False
        try:
            yield con
            ok = True
        finally:
            try:
                if ok and not read_only and _wal_bytes(path) > WAL_CHECKPOINT_BYTES:
                    con.execute(f"CHECKPOINT {ALIAS}")
            finally:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")  # only matters if the caller left one open
                con.execute(f"DETACH {ALIAS}")


def _wal_bytes(path: Path) -> int:
    try:
        return path.with_name(path.name + ".wal").stat().st_size
    except FileNotFoundError:
        return 0
