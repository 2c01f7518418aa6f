"""Builds in ticker batches sized to a memory budget: the batch plan, DuckDB's memory_limit in
the build session, and a build in several batches equal to one in a single batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fts.core.hashing import table_content_sha256
from fts.features import batches, runner
from fts.features import build_plan as plan_module
from fts.features.batches import MemoryLimitError, parse_memory_limit, plan_batches
from tests.features.test_incremental import _project
from tests.ingest.helpers import run_fts


def test_sizes_parse_in_decimal_and_binary_units_and_bad_ones_are_refused() -> None:
    assert parse_memory_limit("4GB") == 4 * 10**9
    assert parse_memory_limit("512 MiB") == 512 * 2**20
    assert parse_memory_limit("1.5gib") == 3 * 2**29
    for bad in ("lots", "4 GBs", "-1GB", "1MB"):  # 1MB: below the least a build needs
        with pytest.raises(MemoryLimitError):
            parse_memory_limit(bad)


def test_batches_hold_at_most_the_budget_of_raw_rows_and_never_split_a_ticker() -> None:
    rows = {"A": 40, "B": 70, "C": 30, "D": 200, "E": 10}
    budget = 100 * batches.BYTES_PER_RAW_ROW  # 100 raw rows
    assert plan_batches(list(rows), rows, budget) == [["A"], ["B", "C"], ["D"], ["E"]]
    assert plan_batches(list(rows), rows, 1000 * batches.BYTES_PER_RAW_ROW) == [list(rows)]


def test_a_build_in_several_batches_equals_one_in_a_single_batch(
        sample_project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(sample_project_dir, {"ACME": 600, "BETA": 650})
    single_dir = tmp_path / "single"
    shutil.copytree(sample_project_dir, single_dir)
    # A budget of about one ticker's rows: three batches (^GSPC alone is over it: its own).
    monkeypatch.setattr(batches, "BYTES_PER_RAW_ROW", 2**26 // 700)
    # DuckDB's own limit in each batch's session (a database of its own) is the budget.
    limits: list[str] = []

    def run_plan(*args, **kwargs):
        session = runner.run_plan(*args, **kwargs)
        limits.append(session.con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        return session

    monkeypatch.setattr(plan_module, "run_plan", run_plan)
    lines: list[str] = []
    project.build_tier("a50", memory_limit="64MiB", progress=lines.append)
    assert [ln.strip() for ln in lines if "batch " in ln and "/" in ln] == [
        "batch 1/3: 1 ticker(s)", "batch 2/3: 1 ticker(s)", "batch 3/3: 1 ticker(s)"]
    assert [x.replace(" ", "") for x in limits] == ["64.0MiB"] * 3
    monkeypatch.undo()
    from fts.project import Project

    Project(single_dir).build_tier("a50")
    for tier in ("a20", "a50"):
        many = sorted((sample_project_dir / "data/tiers" / tier).glob("*.parquet"))
        one = sorted((single_dir / "data/tiers" / tier).glob("*.parquet"))
        assert [p.name for p in many] == [p.name for p in one] and len(many) == 3
        for a, b in zip(many, one, strict=True):
            assert table_content_sha256(pq.read_table(a).replace_schema_metadata(None)) == \
                table_content_sha256(pq.read_table(b).replace_schema_metadata(None))


def test_a_bad_memory_limit_is_one_line_on_stderr_and_changes_nothing(
        sample_project_dir: Path) -> None:
    shutil.copytree(Path(__file__).parents[2] / "features_sql", sample_project_dir / "features_sql")
    result = run_fts(sample_project_dir, "build-tier", "a20", "--memory-limit", "lots")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "--memory-limit 'lots'" in result.stderr
    assert "Traceback" not in result.output
    assert not (sample_project_dir / "data").exists()


def test_batches_in_worker_processes_equal_a_build_in_one(
        sample_project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fts.audit import audit_project
    from fts.project import Project

    project = _project(sample_project_dir, {"ACME": 600, "BETA": 650})
    single_dir = tmp_path / "single"
    shutil.copytree(sample_project_dir, single_dir)
    lines: list[str] = []
    # 64 MiB shared by 2 workers, at about 2,000 raw rows per 32 MiB (the batches are planned
    # in the build's process): ACME and BETA (1,250 rows), then ^GSPC (5,031) alone.
    monkeypatch.setattr(batches, "BYTES_PER_RAW_ROW", 2**25 // 2000)
    # Each worker stages its batch's files from several threads (whatever the cores here).
    import fts.features.build as build_module

    monkeypatch.setattr(build_module, "stage_writers", lambda jobs: 3)
    result = project.build_tier("a20", memory_limit="64MiB", jobs=2, progress=lines.append)
    assert any("2 batches in 2 worker processes" in ln for ln in lines), lines
    assert result.target.built == ["ACME", "BETA", "^GSPC"]
    Project(single_dir).build_tier("a20")
    many = sorted((sample_project_dir / "data/tiers/a20").glob("*.parquet"))
    one = sorted((single_dir / "data/tiers/a20").glob("*.parquet"))
    assert [p.name for p in many] == [p.name for p in one] and len(many) == 3
    for a, b in zip(many, one, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert not list((sample_project_dir / "data/tiers/a20").glob(".*"))  # no temporaries left
    report = audit_project(project.paths)
    assert report.ok and not report.warnings, [i.message for i in report.issues + report.warnings]
