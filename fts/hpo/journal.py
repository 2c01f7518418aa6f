"""Optuna's journal kept in the warehouse (`hpo.journal`), opened only for each short call.

DuckDB lets one process write a file at a time, so the backend never holds the warehouse:
every `read_logs` / `append_logs` attaches it, runs one statement or one transaction, and
detaches it (fts.hpo.attach), waiting while another process holds the lock. A study can thus
run for hours while `fts sql` and other searches use the same warehouse.

- Appends are one transaction each: the batch takes `seq = max(seq) + 1 ...` under the file's
  exclusive lock, so concurrent processes get contiguous, unique numbers and never interleave.
- Reads are incremental: Optuna asks for the logs from the number it has already replayed.
- An append also returns the rows the caller has not seen yet (its own included) and the
  `read_logs` that Optuna always makes right after it is served from them: one open per write
  instead of two. That read is a consistent prefix of the journal that includes the write,
  which is all Optuna's replay needs; the next read sees newer rows.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import optuna
import psutil
from optuna.storages.journal import BaseJournalBackend

from fts.core.paths import ProjectPaths
from fts.hpo.attach import ALIAS, attached
from fts.warehouse import connect

T = TypeVar("T")
JOURNAL = f"{ALIAS}.hpo.journal"
Writer = tuple[str | None, int | None, float | None]


_INSERT = f"""
INSERT INTO {JOURNAL} (seq, op_code, log, written_at, writer_host, writer_pid, writer_started)
SELECT $base + i, op_codes[i + 1], CAST(logs[i + 1] AS JSON),
       (now() AT TIME ZONE 'UTC'), $host, $pid, $started
FROM (SELECT $op_codes AS op_codes, $logs AS logs), range(len($op_codes)) t(i)
"""


_identity: tuple[str, int, float] | None = None


def writer_identity() -> tuple[str, int, float]:
    """(host, pid, process start time) of this process; the start time tells a reused pid
    apart. Computed per process, so a forked worker is told from its parent."""
    global _identity
    if _identity is None or _identity[1] != os.getpid():
        pid = os.getpid()
        _identity = (socket.gethostname(), pid, round(psutil.Process(pid).create_time(), 3))
    return _identity


class DuckDBJournalBackend(BaseJournalBackend):
    """`optuna.storages.journal.BaseJournalBackend` over the warehouse table `hpo.journal`.

    `writer` overrides the identity stored with appended rows; `sync_study` passes
    `(None, None, None)` so that copied trials are not mistaken for this process's.
    """

    def __init__(
        self,
        warehouse: str | os.PathLike[str],
        *,
        writer: Writer | None = None,
    ) -> None:
        self.path = Path(warehouse).resolve()
        self._writer = writer  # None: whichever process appends
        self._cache_lock = threading.Lock()
        self._next_unread = 0  # the first log number the last read_logs did not return
        self._cached: tuple[int, list[dict[str, Any]]] | None = None
        # Create the warehouse and its schema (hpo.journal) once, with the full DDL.
        with connect(self.path):
            pass

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        """The logs numbered `log_number_from` and up, in order."""
        with self._cache_lock:
            cached, self._cached = self._cached, None
        if cached is not None and cached[0] == log_number_from:
            logs = cached[1]
        else:
            with attached(self.path, read_only=True) as con:
                rows = con.execute(
                    f"SELECT log FROM {JOURNAL} WHERE seq >= ? ORDER BY seq", [log_number_from]
                ).fetchall()
            logs = [json.loads(text) for (text,) in rows]
        with self._cache_lock:
            self._next_unread = log_number_from + len(logs)
        return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append `logs` in one transaction, numbered after the last row of the journal."""
        if not logs:
            return
        texts = [json.dumps(log) for log in logs]  # NaN/Infinity: DuckDB's JSON accepts them
        op_codes = [int(log["op_code"]) for log in logs]
        host, pid, started = self._writer or writer_identity()
        with self._cache_lock:
            unread_from = self._next_unread
        with attached(self.path, read_only=False) as con:
            con.execute("BEGIN TRANSACTION")
            base = con.execute(f"SELECT coalesce(max(seq) + 1, 0) FROM {JOURNAL}").fetchall()
            con.execute(
                _INSERT,
                {"base": base[0][0], "op_codes": op_codes, "logs": texts, "host": host,
                 "pid": pid, "started": started},
            )
            rows = con.execute(
                f"SELECT log FROM {JOURNAL} WHERE seq >= ? ORDER BY seq", [unread_from]
            ).fetchall()
            con.execute("COMMIT")  # on any error `attached` rolls back
        with self._cache_lock:
            self._cached = (unread_from, [json.loads(text) for (text,) in rows])

    def append_in_transaction(
        self, build: Callable[[list[dict[str, Any]]], tuple[list[dict[str, Any]], T]]
    ) -> T:
        """Run `build(all_logs)` -> (new_logs, result), append `new_logs` atomically, return result.

        For writers that decide what to append from the journal's current content (sync): the
        file stays locked from the read to the commit, so nothing can come in between.
        """
        host, pid, started = self._writer or writer_identity()
        with attached(self.path, read_only=False) as con:
            con.execute("BEGIN TRANSACTION")
            rows = con.execute(f"SELECT log FROM {JOURNAL} ORDER BY seq").fetchall()
            new_logs, result = build([json.loads(text) for (text,) in rows])
            if new_logs:
                con.execute(
                    _INSERT,
                    {"base": len(rows),  # seq is gap-free from 0
                     "op_codes": [int(log["op_code"]) for log in new_logs],
                     "logs": [json.dumps(log) for log in new_logs],
                     "host": host, "pid": pid, "started": started},
                )
            con.execute("COMMIT")
        return result


    def record_heartbeat(self, trial_id: int, timeout: float | None = None) -> None:
        """Record that `trial_id`'s worker is alive now (`hpo.heartbeats`, one short write)."""
        host, pid, _ = self._writer or writer_identity()
        with attached(self.path, read_only=False, timeout=timeout) as con:
            con.execute(
                f"INSERT OR REPLACE INTO {ALIAS}.hpo.heartbeats VALUES "
                "(?, now() AT TIME ZONE 'UTC', ?, ?)", [trial_id, host, pid])


def journal_storage(paths: ProjectPaths) -> optuna.storages.JournalStorage:
    """Optuna storage whose journal is `hpo.journal` in the project's warehouse."""
    return optuna.storages.JournalStorage(DuckDBJournalBackend(paths.warehouse))
