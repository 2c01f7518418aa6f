"""Real processes: a warehouse held by another writer, and a load killed before COMMIT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fts.ingest.load import PAUSE_BEFORE_COMMIT_ENV
from tests.ingest.helpers import (
    AAPL_CSV,
    AAPL_NEXT_CSV,
    manifest_files,
    one_line,
    rows,
    run_fts,
    snapshot,
    table_fingerprint,
)

FTS = Path(sys.executable).parent / "fts"  # the installed console script


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_warehouse_held_by_another_writer_is_reported_busy_and_changes_nothing(
    sample_project_dir: Path, tmp_path: Path
):
    before = snapshot(sample_project_dir)
    ready = tmp_path / "holder-ready"
    holder = subprocess.Popen([
        sys.executable, "-c",
        "import duckdb, pathlib, sys, time\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "pathlib.Path(sys.argv[2]).touch()\n"
        "time.sleep(120)\n",
        str(sample_project_dir / "warehouse.duckdb"), str(ready),
    ])
    try:
        _wait_for(ready, holder)
        result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL",
                         env={"FTS_LOCK_TIMEOUT": "1"})
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    line = one_line(result)
    assert f"another process (PID {holder.pid}: " in line and "FTS_LOCK_TIMEOUT" in line
    assert snapshot(sample_project_dir) == before


def test_load_killed_before_commit_leaves_the_previous_state_intact(tmp_path: Path):
    project = tmp_path / "project"
    assert run_fts(project, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL").exit_code == 0
    before = table_fingerprint(project)
    flag = tmp_path / "inside-transaction"
    proc = subprocess.Popen(
        [str(FTS), "--project-dir", str(project), "ingest", "csv", str(AAPL_NEXT_CSV),
         "--ticker", "AAPL"],
        env={**os.environ, PAUSE_BEFORE_COMMIT_ENV: str(flag)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        _wait_for(flag, proc)  # rows, load and manifest inserted; COMMIT not yet run
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    assert table_fingerprint(project) == before
    assert rows(project, "SELECT count(*) FROM raw.loads") == [(1,)]
    # The killed load's manifest file may remain, but it was never registered.
    registered = {r[0] for r in rows(project, "SELECT id FROM meta.manifests")}
    assert len(registered) == 1 and len(manifest_files(project)) == 2
    # And the warehouse is fully usable: the same load now goes through.
    again = run_fts(project, "ingest", "csv", str(AAPL_NEXT_CSV), "--ticker", "AAPL")
    assert again.exit_code == 0, again.output
    assert rows(project, "SELECT count(*) FROM raw.ohlcv") == [(15,)]
