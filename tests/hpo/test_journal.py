"""The DuckDB journal backend: numbering, incremental reads, concurrency, the file lock."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import optuna
import pytest

from fts.core.errors import WarehouseBusy
from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage
from fts.hpo.journal import DuckDBJournalBackend
from fts.warehouse import connect
from tests.hpo.conftest import finish


def _log(i: int, tag: str = "t") -> dict:
    return {"op_code": 3, "worker_id": tag, "study_id": -1, "system_attr": {"i": i}}


def _rows(paths: ProjectPaths) -> list[tuple]:
    with connect(paths.warehouse, read_only=True) as con:
        return con.execute(
            "SELECT seq, op_code, log, writer_pid FROM hpo.journal ORDER BY seq").fetchall()


def test_appends_are_numbered_from_zero_and_read_incrementally(paths: ProjectPaths) -> None:
    backend = DuckDBJournalBackend(paths.warehouse)
    assert backend.read_logs(0) == []
    backend.append_logs([_log(0), _log(1)])
    backend.append_logs([_log(2)])
    backend.append_logs([])

    rows = _rows(paths)
    assert [r[0] for r in rows] == [0, 1, 2]
    assert all(r[1] == 3 and r[3] is not None for r in rows)
    fresh = DuckDBJournalBackend(paths.warehouse)
    assert [lg["system_attr"]["i"] for lg in fresh.read_logs(0)] == [0, 1, 2]
    assert [lg["system_attr"]["i"] for lg in fresh.read_logs(2)] == [2]
    assert fresh.read_logs(3) == []


def test_read_after_append_includes_other_writers_rows(paths: ProjectPaths) -> None:
    """The read Optuna makes right after an append is served from the append's transaction:
    it must still contain rows another backend (process) appended since the last read."""
    mine, other = DuckDBJournalBackend(paths.warehouse), DuckDBJournalBackend(paths.warehouse)
    assert mine.read_logs(0) == []
    other.append_logs([_log(0, "other")])
    mine.append_logs([_log(1, "mine")])
    assert [lg["worker_id"] for lg in mine.read_logs(0)] == ["other", "mine"]
    # a read from another position is not served from that snapshot
    assert [lg["worker_id"] for lg in mine.read_logs(1)] == ["mine"]


def test_non_finite_floats_round_trip(paths: ProjectPaths) -> None:
    storage = journal_storage(paths)
    study = optuna.create_study(study_name="nan", storage=storage)
    trial = study.ask()
    trial.set_user_attr("val_auc", float("nan"))
    trial.report(float("inf"), step=0)
    study.tell(trial, float("inf"))

    loaded = optuna.load_study(study_name="nan", storage=journal_storage(paths)).trials[0]
    assert math.isnan(loaded.user_attrs["val_auc"])
    assert loaded.value == float("inf") and loaded.intermediate_values == {0: float("inf")}


def test_concurrent_appends_are_contiguous_and_never_interleaved(
    paths: ProjectPaths, spawn
) -> None:
    DuckDBJournalBackend(paths.warehouse)
    procs = [spawn("append", project=paths.root, tag=f"p{k}", batches=25, size=4)
             for k in range(3)]
    for proc in procs:
        finish(proc)

    rows = _rows(paths)
    assert [r[0] for r in rows] == list(range(3 * 25 * 4))
    logs = [json.loads(r[2]) for r in rows]
    for start in range(0, len(logs), 4):  # each batch of 4 is one block of consecutive seqs
        batch = logs[start:start + 4]
        attrs = [lg["system_attr"] for lg in batch]
        assert {lg["worker_id"] for lg in batch} == {batch[0]["worker_id"]}, batch
        assert {a["batch"] for a in attrs} == {attrs[0]["batch"]} and \
            [a["i"] for a in attrs] == [0, 1, 2, 3], batch
    assert len({r[3] for r in rows}) == 3  # three writer pids recorded


def _hold_lock(paths: ProjectPaths, seconds: float, marker: Path) -> subprocess.Popen:
    code = (f"import time, pathlib; from fts.warehouse import connect\n"
            f"with connect({str(paths.warehouse)!r}) as con:\n"
            f"    pathlib.Path({str(marker)!r}).write_text('x'); time.sleep({seconds})\n")
    return subprocess.Popen([sys.executable, "-c", code])


def test_append_waits_for_another_process_holding_the_warehouse(
    paths: ProjectPaths, tmp_path: Path
) -> None:
    backend = DuckDBJournalBackend(paths.warehouse)
    marker = tmp_path / "locked"
    holder = _hold_lock(paths, 1.5, marker)
    try:
        while not marker.exists():
            time.sleep(0.02)
        started = time.monotonic()
        backend.append_logs([_log(0)])
        assert time.monotonic() - started > 0.3  # it had to wait for the lock
    finally:
        holder.wait(timeout=60)
    assert [r[0] for r in _rows(paths)] == [0]


def test_gives_up_with_warehouse_busy(
    paths: ProjectPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = DuckDBJournalBackend(paths.warehouse)
    monkeypatch.setenv("FTS_LOCK_TIMEOUT", "0.3")
    marker = tmp_path / "locked"
    holder = _hold_lock(paths, 30, marker)
    try:
        while not marker.exists():
            time.sleep(0.02)
        with pytest.raises(WarehouseBusy, match="FTS_LOCK_TIMEOUT"):
            backend.append_logs([_log(0)])
    finally:
        holder.kill()  # it would hold the lock for 30 s more
        holder.wait(timeout=60)
    # ...and in this process: a connection held open by the caller is waited for too
    with connect(paths.warehouse) as con, pytest.raises(WarehouseBusy):
        con.execute("SELECT 1").fetchall()
        backend.read_logs(0)
    assert _rows(paths) == []


def test_an_append_interrupted_before_commit_leaves_nothing(
    paths: ProjectPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from fts.hpo import journal

    backend = DuckDBJournalBackend(paths.warehouse)
    backend.append_logs([_log(0)])
    real = journal.attached

    class _Crash(Exception):
        pass

    class _NoCommit:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self._con = con

        def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
            if sql == "COMMIT":
                raise _Crash
            return self._con.execute(sql, *args)

    @contextlib.contextmanager
    def crashing(*args: object, **kwargs: object):
        with real(*args, **kwargs) as con:
            yield _NoCommit(con)

    monkeypatch.setattr(journal, "attached", crashing)
    with pytest.raises(_Crash):
        backend.append_logs([_log(1), _log(2)])
    monkeypatch.setattr(journal, "attached", real)
    backend.append_logs([_log(3)])
    assert [(r[0], json.loads(r[2])["system_attr"]["i"]) for r in _rows(paths)] == [(0, 0), (1, 3)]
