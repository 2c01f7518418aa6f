"""SIGKILL at 20 moments of ingest, build-tier and an HPO trial, then the same command again:
`fts audit` holds (exit 0) after the kill and after the rerun, every time. And two
`fts build-tier a100` at once leave the audit clean.

The kills land at named steps of the one publish path (`fts.warehouse.publish.STEPS`):
`staged` (a file written under its temporary name), `renamed` (a file or manifest renamed into
place, before the COMMIT), `registered` (inside the transaction, before COMMIT) and
`committed` (after COMMIT, lock still held). `<step>:<n>` is the n-th time the step is reached.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from fts.audit import audit_project
from fts.audit.gc import collect_garbage
from fts.core.paths import ProjectPaths
from fts.warehouse.publish import project_lock
from tests.audit.conftest import REPO, query, run_fts
from tests.audit.processes import run, start
from tests.ingest.helpers import AAPL_CSV, AAPL_NEXT_CSV

HPO = ["hpo", "--tier", "a20", "--budget", "10K", "--trials", "1", "--ctx", "16",
       "--epochs", "1", "--max-batches", "2", "--study", "k"]

# (where it starts, the command, the moments it is killed at). An ingest publishes one manifest
# with the load's rows (a first load, then a second one chained to it); build-tier a50 publishes
# a20 and a50 together (2 Parquet files, 2 manifests); the trial publishes its dataset (npz +
# manifest), its run (checkpoint + manifest), then the study manifest.
MOMENTS = [
    ("empty", ["ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL"],
     ["renamed:1", "registered:1", "committed:1"]),
    ("aapl", ["ingest", "csv", str(AAPL_NEXT_CSV), "--ticker", "AAPL"],
     ["renamed:1", "registered:1"]),
    ("sample", ["build-tier", "a50"], ["staged:1", "staged:2", "renamed:1", "renamed:2",
                                       "renamed:3", "renamed:4", "registered:1", "committed:1"]),
    ("built", HPO, ["staged:1", "renamed:2", "registered:1", "renamed:3", "registered:2",
                    "committed:2", "registered:3"]),
]
# What the command leaves once it has run to the end (whatever was killed before).
DONE = {"empty": ("SELECT count(*) FROM raw.loads", 1),
        "aapl": ("SELECT count(*) FROM raw.ohlcv WHERE ticker = 'AAPL'", 15),
        "sample": ("SELECT count(*) FROM meta.tier_current", 2),
        "built": ("SELECT count(*) FROM meta.manifests WHERE kind = 'study'", 1)}
CASES = [(start, at) for start, _, moments in MOMENTS for at in moments]


def test_the_kill_loop_has_twenty_distinct_moments():
    assert len(CASES) == 20 and len(set(CASES)) == 20


def _audit_holds(root: Path, when: str) -> str:
    result = run_fts(root, "audit")
    assert result.exit_code == 0, (when, result.output)
    return result.output


@pytest.fixture
def starts(tmp_path: Path, _sample_project_template: Path,
           _built_project_template: Path) -> dict[str, Path]:
    """Where the commands start: nothing; one AAPL load; the sample ingested; a20, a50 built."""
    empty = tmp_path / "start-empty"
    empty.mkdir()
    aapl = tmp_path / "start-aapl"
    assert run_fts(aapl, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL").exit_code == 0
    sample = tmp_path / "start-sample"
    shutil.copytree(_sample_project_template, sample)
    shutil.copytree(REPO / "features_sql", sample / "features_sql")
    return {"empty": empty, "aapl": aapl, "sample": sample, "built": _built_project_template}


@pytest.mark.parametrize(("start", "args", "moments"), MOMENTS,
                         ids=[f"{a[0]}-{start}" for start, a, _ in MOMENTS])
def test_a_kill_at_any_publish_step_leaves_an_audit_that_holds_and_the_rerun_completes(
        tmp_path: Path, starts: dict[str, Path], start: str, args: list[str],
        moments: list[str]):
    for at in moments:
        root = tmp_path / at.replace(":", "-")
        shutil.copytree(starts[start], root)
        assert run(root, *args, kill_at=at) == -signal.SIGKILL, at
        audit = _audit_holds(root, f"after {args[0]} killed at {at}")
        if at.startswith("renamed"):  # a file in place, never registered: garbage, a warning
            assert "WARN [garbage]" in audit, (at, audit)
        assert run(root, *args) == 0, at
        _audit_holds(root, f"after {args[0]} killed at {at}, then run again")
        sql, expected = DONE[start]
        assert query(root, sql) == [(expected,)], at
        shutil.rmtree(root)


def test_two_concurrent_builds_of_a100_leave_the_audit_clean(tmp_path: Path,
                                                             starts: dict[str, Path]):
    root = tmp_path / "race"
    shutil.copytree(starts["sample"], root)
    paths = ProjectPaths(root)
    # Holding the publish lock while both run makes the race certain: each builds every tier
    # and stages its files before either can publish (neither finds the other's build). The
    # second starts once the first has staged, so their manifests (created_at) differ: two
    # started in the same second make the same manifest, and so the same bytes and name.
    staging = root / "data" / "tiers" / "a100"
    with project_lock(paths):
        procs = [start(root, "build-tier", "a100")]
        _wait_for_staged_files(staging, 1, procs)
        time.sleep(1.0)
        procs.append(start(root, "build-tier", "a100"))
        _wait_for_staged_files(staging, 2, procs)
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    report = audit_project(paths)
    assert report.ok and not report.warnings, [i.message for i in report.issues + report.warnings]
    assert run_fts(root, "audit").exit_code == 0
    # Both builds are registered. A ticker's file is named by its build key (the same in both:
    # same definition, same loads) and holds the same bytes, so both list the one file.
    builds = query(root, "SELECT m.id, a.path FROM meta.manifests m JOIN meta.artifacts a "
                         "ON a.manifest_id = m.id WHERE m.kind = 'tier' AND m.name = 'a100'")
    assert len(builds) == 2 and len({m for m, _ in builds}) == 2
    assert len({p for _, p in builds}) == 1
    # The one not current, with its own a20 and a50, is a superseded build for `fts gc`.
    [(current,)] = query(root, "SELECT manifest_id FROM meta.tier_current WHERE tier = 'a100'")
    plan = collect_garbage(paths)
    assert not plan.garbage
    assert sorted(s.name for s in plan.superseded) == ["a100", "a20", "a50"]
    assert current not in {s.id for s in plan.superseded}
    superseded_files = [f for s in plan.superseded for f in s.files]
    assert superseded_files == []  # its files are the current build's: they stay
    current_files = [p for (p,) in query(root, "SELECT parquet_path FROM meta.tier_current")]
    deleted = collect_garbage(paths, delete=True)
    assert deleted.deleted and len(deleted.superseded) == 3
    assert not any((root / f).exists() for f in superseded_files)
    assert all((root / f).exists() for f in current_files)
    report = audit_project(paths)
    assert report.ok and not report.warnings, [i.message for i in report.issues + report.warnings]
    assert collect_garbage(paths).empty


def _wait_for_staged_files(folder: Path, n: int, procs: list, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob(".*.tmp")) if folder.is_dir() else []) < n:
        assert all(p.exitcode is None for p in procs), [p.exitcode for p in procs]
        assert time.monotonic() < deadline, "the builds never staged their files"
        time.sleep(0.05)


def _acme_csv(path: Path, rows: int) -> Path:
    import numpy as np
    import pandas as pd

    dates = pd.bdate_range("2015-01-02", periods=rows)
    close = 100 * np.exp(np.cumsum(np.random.default_rng(11).normal(0, 0.01, rows)))
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": close * 1.01,
                  "Low": close * 0.99, "Close": close, "Volume": 1000.0}).to_csv(path, index=False)
    return path


# An incremental build: a20 holds ^GSPC and ACME, then a new ACME load arrives; `build-tier a20`
# stages, renames and registers ACME's file alone (kept: ^GSPC's), then moves the superseded
# ACME file out of the tier folder after the COMMIT.
INCREMENTAL_MOMENTS = ["staged:1", "renamed:1", "renamed:2", "registered:1", "committed:1"]


def test_a_kill_during_an_incremental_build_leaves_an_audit_that_holds_and_the_rerun_tidies(
        tmp_path: Path, starts: dict[str, Path]):
    base = tmp_path / "start-incremental"
    shutil.copytree(starts["sample"], base)
    assert run_fts(base, "ingest", "csv", str(_acme_csv(tmp_path / "a1.csv", 600)),
                   "--ticker", "ACME").exit_code == 0
    assert run_fts(base, "build-tier", "a20").exit_code == 0
    acme_before = query(base, "SELECT count(*) FROM a20 WHERE ticker = 'ACME'")[0][0]
    assert run_fts(base, "ingest", "csv", str(_acme_csv(tmp_path / "a2.csv", 640)),
                   "--ticker", "ACME").exit_code == 0
    for at in INCREMENTAL_MOMENTS:
        root = tmp_path / at.replace(":", "-")
        shutil.copytree(base, root)
        assert run(root, "build-tier", "a20", kill_at=at) == -signal.SIGKILL, at
        audit = _audit_holds(root, f"after an incremental build killed at {at}")
        if at == "committed:1":  # the new build is current; the old ACME file still in place
            assert "WARN [tier_folder_extra]" in audit, audit
        assert run(root, "build-tier", "a20") == 0, at
        report = audit_project(ProjectPaths(root))
        assert report.ok, (at, [i.message for i in report.issues])
        assert not [w for w in report.warnings if w.code != "garbage"], at
        folder = sorted(p.name for p in (root / "data" / "tiers" / "a20").glob("*.parquet"))
        assert len(folder) == 2 and folder[1].startswith("a20-ACME-"), (at, folder)
        acme = query(root, "SELECT count(*) FROM a20 WHERE ticker = 'ACME'")[0][0]
        assert acme == acme_before + 40, at  # the new load's 40 more rows
        shutil.rmtree(root)
