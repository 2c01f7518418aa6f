"""DuckDB's memory_limit, temp_directory and threads in a build's session (a budgeted batch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from fts.features import load_feature_project
from fts.features.batches import duckdb_limit
from fts.features.compute import OHLCV_COLUMNS, compute_tier
from fts.features.graph import plan
from fts.features.runner import engine_memory_bytes, run_plan
from tests.reference.features import synthetic_history

FEATURES = Path(__file__).resolve().parents[2] / "features_sql"


@pytest.fixture(scope="module")
def universe() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Eight tickers x 1,500 days and a VIX series (the reference's random walks)."""
    frames = []
    for i in range(8):
        bars, vix = synthetic_history(1500, seed=100 + i)
        frames.append(bars.assign(ticker=f"T{i}"))
    return pd.concat(frames, ignore_index=True)[list(OHLCV_COLUMNS)], vix


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.assign(date=frame["date"].dt.date), preserve_index=False)


def _setting(con, name: str) -> str:
    return str(con.execute(f"SELECT current_setting('{name}')").fetchone()[0])


def test_a_limited_session_uses_its_settings_spills_into_its_folder_and_removes_it(
    tmp_path: Path, universe: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    raw, vix = universe
    project = load_feature_project(FEATURES)
    spill = tmp_path / "spill"
    sources = {project.ohlcv_source: _arrow(raw), "vix": _arrow(vix)}
    session = run_plan(project, plan(project, "a20"), sources, lambda _: None,
                       memory_limit="24MiB", temp_directory=spill, threads=1)
    with session:
        con = session.con
        assert _setting(con, "memory_limit") == "24.0 MiB"
        assert _setting(con, "threads") == "1"
        assert Path(_setting(con, "temp_directory")).parent == spill
        # 64 MB of rows in a 24 MiB database: DuckDB writes blocks to the spill folder.
        con.execute("CREATE TABLE big AS SELECT range AS i, random() AS x FROM range(4000000)")
        files = [Path(r[0]) for r in con.execute("SELECT path FROM duckdb_temporary_files()")
                 .fetchall()]
        assert files and all(f.parent.parent == spill for f in files)
        # What DuckDB holds is measurable mid-build without disturbing the build's connection.
        assert engine_memory_bytes() > 2**20
        con.register("__after", pa.table({"x": [1]}))  # refused with a result left open
        con.unregister("__after")
        assert con.execute("SELECT count(*) FROM big").fetchone()[0] == 4_000_000
        # Another build of the process (no limits) keeps DuckDB's defaults.
        with run_plan(project, plan(project, "vix"), sources, lambda _: None) as other:
            assert _setting(other.con, "memory_limit") != "24.0 MiB"
    assert not spill.exists()  # the session's folder is gone, and the folder made for it


def test_a_killed_builds_spill_folder_is_garbage_that_gc_removes(
        sample_project_dir: Path) -> None:
    import subprocess
    import sys

    from fts.audit.gc import collect_garbage
    from fts.project import Project

    paths = Project(sample_project_dir).paths
    # A budgeted session that spills into the project's tier folder, then dies by SIGKILL.
    script = (
        "import os, sys\n"
        "from fts.features.runner import EngineLimits, EngineSession\n"
        "s = EngineSession(EngineLimits('24MiB', sys.argv[1], 1))\n"
        "s.con.execute('CREATE TABLE big AS SELECT range AS i, random() AS x FROM range(4000000)')\n"
        "os.kill(os.getpid(), 9)\n")
    done = subprocess.run([sys.executable, "-c", script, str(paths.tiers_data)], check=False)
    assert done.returncode == -9
    [left] = list(paths.tiers_data.iterdir())
    assert left.name.startswith(".duckdb-spill.") and any(left.iterdir())
    assert collect_garbage(paths).garbage == [paths.relative(left)]
    collect_garbage(paths, delete=True)
    assert not left.exists()


def test_limits_change_memory_not_content(universe: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    raw, vix = universe
    free = compute_tier(FEATURES, "a20", raw, vix)
    limited = compute_tier(FEATURES, "a20", raw, vix, memory_limit="24MiB", threads=1)
    assert len(free) > 7 * 1400
    pd.testing.assert_frame_equal(limited, free, check_exact=True)


def test_duckdb_gets_a_share_of_the_budget_but_never_less_than_a_floor_or_more_than_it() -> None:
    gib, mib = 2**30, 2**20
    assert duckdb_limit(6 * gib) == "2457MiB"  # 0.4 of it
    assert duckdb_limit(512 * mib) == "256MiB"  # the floor
    assert duckdb_limit(64 * mib) == "64MiB"  # never above the budget itself


@pytest.mark.parametrize("layout", ["v2", "v1"])
def test_the_default_budget_is_a_quarter_of_the_containers_limit_when_smaller(
        tmp_path: Path, layout: str) -> None:
    from fts.features.batches import cgroup_memory_limit, default_memory_limit

    gib = 2**30
    proc = tmp_path / "proc/self"
    proc.mkdir(parents=True)
    if layout == "v2":
        proc.joinpath("cgroup").write_text("0::/box/job\n")
        limit = tmp_path / "sys/fs/cgroup/box/job/memory.max"
    else:
        proc.joinpath("cgroup").write_text("5:cpu,cpuacct:/x\n4:memory:/box/job\n")
        limit = tmp_path / "sys/fs/cgroup/memory/box/job/memory.limit_in_bytes"
    limit.parent.mkdir(parents=True)
    limit.write_text(f"{2 * gib}\n")
    assert cgroup_memory_limit(tmp_path) == 2 * gib
    assert default_memory_limit(tmp_path) == gib // 2
    # A tighter limit on a parent group binds too; a malformed line is skipped, never fatal.
    parent = limit.parent.parent / limit.name
    parent.write_text(f"{gib}\n")
    proc.joinpath("cgroup").write_text("garbage\n\n" + proc.joinpath("cgroup").read_text())
    assert cgroup_memory_limit(tmp_path) == gib
    parent.unlink()
    # No limit set ("max" in v2, a page-rounded 2**63 in v1): the machine's RAM decides.
    limit.write_text("max\n" if layout == "v2" else "9223372036854771712\n")
    assert cgroup_memory_limit(tmp_path) is None
    assert default_memory_limit(tmp_path) == default_memory_limit(tmp_path / "nowhere") > gib // 2
